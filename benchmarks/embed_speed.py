"""Embedding speed per face: the arcface_onnx backend (five-point alignment + onnxruntime) against dlib.

Without --model, a random-weight stand-in with insightface's IResNet-50 layout (the `w600k_r50.onnx`
architecture: 3x3 stem at 112 px, IBasicBlock stages of 3/4/14/3 blocks, 512 x 7 x 7 -> 512 head) is
exported to ONNX, so the cost is that of the real model; pass the real file with --model.

    python benchmarks/embed_speed.py [--faces 256] [--batch 64] [--repeats 3] [--model w600k_r50.onnx]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def iresnet50_standin(path: Path) -> Path:
    """Export a random IResNet-50 (insightface's recognition backbone layout) with a dynamic batch axis."""
    import torch
    from torch import nn

    class IBasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                                      nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return self.body(x) + (x if self.skip is None else self.skip(x))

    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)]
    cin = 64
    for cout, blocks in zip((64, 128, 256, 512), (3, 4, 14, 3)):
        layers += [IBasicBlock(cin, cout, 2)] + [IBasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
        cin = cout
    layers += [nn.BatchNorm2d(512), nn.Flatten(), nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512)]
    model = nn.Sequential(*layers).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(1, 3, 112, 112), str(path), input_names=["input.1"], output_names=["embedding"],
                          dynamic_axes={"input.1": {0: "batch"}, "embedding": {0: "batch"}}, dynamo=False)
    return path


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=256, help="faces per timed run")
    ap.add_argument("--batch", type=int, default=64, help="arcface_onnx batch size")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (the best is reported)")
    ap.add_argument("--model", type=Path, help="an ArcFace ONNX file (default: the random IResNet-50 stand-in)")
    ap.add_argument("--device", default="cpu", help="embedding.device: cpu, cuda, auto")
    args = ap.parse_args()

    import onnxruntime
    import skimage.data

    from facseq.align import align_face, points_in_crop
    from facseq.embed import ArcFaceOnnxEmbedder, DlibEmbedder
    from facseq.faces import CROP_SIZE, box_in_crop, crop_face

    # MTCNN's box and five points on skimage's astronaut, measured once; jittered per face
    image = skimage.data.astronaut()
    box = np.array([181.05, 62.16, 267.75, 172.05])
    five = np.array([[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]])
    rng = np.random.default_rng(0)
    crop = crop_face(image, box)
    crops = [crop] * args.faces
    boxes = [box_in_crop(box, CROP_SIZE, 20, 512, 512)] * args.faces
    points = np.stack([points_in_crop(five + rng.normal(0, 1.0, five.shape), box, CROP_SIZE, 20, 512, 512)
                       for _ in range(args.faces)])

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or iresnet50_standin(Path(tmp) / "iresnet50_random.onnx")
        arcface = ArcFaceOnnxEmbedder(model, args.device)
        arcface.batch_size = args.batch
        providers = arcface.session.get_providers()
        arcface.embed(crops[: args.batch], boxes[: args.batch], points[: args.batch])  # warm-up
        t_align = best_of(lambda: [align_face(c, p, arcface.spec.size) for c, p in zip(crops, points)], args.repeats)
        t_arcface = best_of(lambda: arcface.embed(crops, boxes, points), args.repeats)
    dlib = DlibEmbedder()
    dlib.embed(crops[:8], boxes[:8])
    t_dlib = best_of(lambda: dlib.embed(crops, boxes), args.repeats)

    n = args.faces
    print(f"embed_speed: {n} faces of 160x160, best of {args.repeats}; onnxruntime {onnxruntime.__version__} "
          f"on {providers[0]}; model {'(random IResNet-50 stand-in)' if args.model is None else model}")
    print(f"{'step':<34}{'ms/face':>10}{'faces/s':>10}")
    for name, seconds in [("five-point alignment (112 px)", t_align),
                          (f"arcface_onnx embed (batch {args.batch})", t_arcface),
                          ("dlib embed (reference)", t_dlib)]:
        print(f"{name:<34}{1000 * seconds / n:>10.2f}{n / seconds:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
