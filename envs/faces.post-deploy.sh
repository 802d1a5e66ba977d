#!/usr/bin/env bash
# facenet-pytorch 2.6.0 pins torch<2.3, numpy<2 and Pillow<10.3; its code runs with the pinned newer ones,
# so it goes in without its dependencies (pip refuses --no-deps inside an environment file).
set -euo pipefail
python -m pip install --no-deps facenet-pytorch==2.6.0
# scenedetect requires opencv-python, which would replace mediapipe's opencv-contrib-python as cv2; its
# other run-time needs (numpy, tqdm) are in the environment.
python -m pip install --no-deps scenedetect==0.7.2
