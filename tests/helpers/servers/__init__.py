"""Real servers the tests start and talk to: plain HTTP calls, Label Studio (from its own
virtual environment) and an MLflow tracking server."""
