"""Row keys of result tables as sortable integers, for vectorised deduplication
(`results.latest_rows`): numpy sorts int64 codes far faster than pyarrow groups and joins
string keys."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def int_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An integer or timestamp column as int64 (nulls first in order)."""
    return pc.fill_null(column.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()


def key_codes(table: pa.Table, columns: list[str]) -> np.ndarray:
    """One int64 per row that orders rows as the `columns` (ascending) would (key columns
    of the store are never null; a null string would sort as the first value)."""
    code = np.zeros(table.num_rows, dtype=np.int64)
    for name in columns:
        column = table[name]
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            encoded = pc.dictionary_encode(column.combine_chunks())
            rank = np.argsort(np.argsort(encoded.dictionary.to_numpy(zero_copy_only=False)))
            values = rank[pc.fill_null(encoded.indices, 0).to_numpy()]
        else:
            values = int_column(column)
        # Dense ranks keep the combined code small enough for int64.
        uniq, dense = np.unique(values, return_inverse=True)
        code = code * len(uniq) + dense
    return code
