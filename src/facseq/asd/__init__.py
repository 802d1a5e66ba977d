"""Active speaker detection: TalkNet (Tao et al. 2021) and Light-ASD (Liao et al. CVPR 2023).

Own re-implementations that load the official checkpoints unchanged and reproduce the official demo's
preprocessing and multi-duration scoring (checked against fixtures to 1e-4).

    det = load_detector("light_asd", "finetuning_TalkSet.model")
    video = crop_track_gray112(bgr_frames, boxes)        # (T, 112, 112) uint8
    scores = det.score_track(video, mfcc_16k(audio_16k))  # .final (N,), .smoothed (T,)
"""

from .detector import ActiveSpeakerDetector, TrackScores, load_detector, resolve_device
from .preprocess import crop_track_gray112, mfcc_16k
from .scoring import DURATIONS
from .weights import CHECKPOINTS, Checkpoint, download_model, sha256_file

__all__ = [
    "ActiveSpeakerDetector",
    "CHECKPOINTS",
    "Checkpoint",
    "DURATIONS",
    "TrackScores",
    "crop_track_gray112",
    "download_model",
    "load_detector",
    "mfcc_16k",
    "resolve_device",
    "sha256_file",
]
