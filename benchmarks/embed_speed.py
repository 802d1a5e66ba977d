"""Embedding speed per face: the arcface_onnx backend (five-point alignment + onnxruntime), and the dlib
backend with dlib's face-recognition ResNet run by dlib itself and by torch (facseq.dlib_resnet).

Without --model, a random-weight stand-in with insightface's IResNet-50 layout (the `w600k_r50.onnx`
architecture: 3x3 stem at 112 px, IBasicBlock stages of 3/4/14/3 blocks, 512 x 7 x 7 -> 512 head) is
exported to ONNX, so the cost is that of the real model; pass the real file with --model.

dlib rows: "net" is the network alone on ready 150x150 chips (dlib's compute_face_descriptor on chips
against the torch module), "embed" the whole DlibEmbedder.embed call (5-point shape predictor, chip,
network); the torch net at batch 1 and 32, with 1 and 2 torch threads. dlib's own network is
single-threaded (dlib-bin has no BLAS) whatever the thread count.

    python benchmarks/embed_speed.py [--faces 256] [--batch 64] [--repeats 3] [--model w600k_r50.onnx]
                                     [--dlib-faces 64] [--skip-arcface]
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


def dlib_rows(crop: np.ndarray, box, faces: int, repeats: int) -> list[tuple[str, float]]:
    """(row name, seconds per face) for dlib's own network and the torch one; also prints the parse time."""
    import torch

    from facseq.dlib_resnet import chips_to_tensor, face_chips, load_face_resnet, read_network
    from facseq.embed import DlibEmbedder, dlib_model_paths

    start = time.perf_counter()
    read_network(dlib_model_paths()[1])
    print(f"dlib_resnet: parsing {dlib_model_paths()[1].name} takes {time.perf_counter() - start:.2f} s (once per process)")

    crops, boxes = [crop] * faces, [box] * faces
    own, ported = DlibEmbedder(net="dlib"), DlibEmbedder(net="torch")
    chips = face_chips(crops, ported.shapes(crops, boxes), ported.model.chip_size)
    chip_list = list(chips)
    rows = []
    for batch in (1, 32):
        t_net = best_of(lambda: [own.recognizer.compute_face_descriptor(chip_list[i : i + batch])
                                 for i in range(0, faces, batch)], repeats)
        rows.append((f"dlib's net, net only (batch {batch})", t_net / faces))
    own.embed(crops[:4], boxes[:4])
    rows.append(("dlib's net, embed (batch 32)", best_of(lambda: own.embed(crops, boxes), repeats) / faces))

    threads_before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (1, 32):
            ported.batch_size = batch
            ported.descriptors_torch(chips[:batch])  # warm-up: oneDNN picks its kernels per shape
            t_net = best_of(lambda: ported.descriptors_torch(chips), repeats)
            rows.append((f"torch net, net only ({threads} thr, batch {batch})", t_net / faces))
        ported.batch_size = 32
        t_embed = best_of(lambda: ported.embed(crops, boxes), repeats)
        rows.append((f"torch net, embed ({threads} thr, batch 32)", t_embed / faces))
    torch.set_num_threads(1)  # what channels-last buys: the module alone, both layouts timed in turn
    nchw = load_face_resnet(dlib_model_paths()[1])
    pixels = chips_to_tensor(chips[:32])
    layouts = {"NCHW": (nchw, pixels), "channels-last": (ported.model, pixels.contiguous(memory_format=torch.channels_last))}
    best = dict.fromkeys(layouts, float("inf"))
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first round warms up
            for name, (model, x) in layouts.items():
                best[name] = min(best[name], best_of(lambda: model(x), 1))
    rows += [(f"torch module alone, {name} (1 thr, batch 32)", seconds / 32) for name, seconds in best.items()]
    torch.set_num_threads(threads_before)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=256, help="faces per timed run (arcface_onnx)")
    ap.add_argument("--dlib-faces", type=int, default=64, help="faces per timed run (dlib; its own net is ~75 ms a face)")
    ap.add_argument("--batch", type=int, default=64, help="arcface_onnx batch size")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (the best is reported)")
    ap.add_argument("--model", type=Path, help="an ArcFace ONNX file (default: the random IResNet-50 stand-in)")
    ap.add_argument("--device", default="cpu", help="embedding.device: cpu, cuda, auto")
    ap.add_argument("--skip-arcface", action="store_true", help="time the dlib backend only")
    args = ap.parse_args()

    import skimage.data

    from facseq.align import align_face, points_in_crop
    from facseq.embed import ArcFaceOnnxEmbedder
    from facseq.faces import CROP_SIZE, box_in_crop, crop_face

    # MTCNN's box and five points on skimage's astronaut, measured once; jittered per face
    image = skimage.data.astronaut()
    box = np.array([181.05, 62.16, 267.75, 172.05])
    five = np.array([[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]])
    rng = np.random.default_rng(0)
    crop = crop_face(image, box)
    box_crop = box_in_crop(box, CROP_SIZE, 20, 512, 512)
    rows = []
    if not args.skip_arcface:
        import onnxruntime

        crops, boxes = [crop] * args.faces, [box_crop] * args.faces
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
        print(f"arcface_onnx: {args.faces} faces of 160x160; onnxruntime {onnxruntime.__version__} on {providers[0]}; "
              f"model {'(random IResNet-50 stand-in)' if args.model is None else model}")
        rows += [("five-point alignment (112 px)", t_align / args.faces),
                 (f"arcface_onnx embed (batch {args.batch})", t_arcface / args.faces)]
    rows += dlib_rows(crop, box_crop, args.dlib_faces, args.repeats)

    print(f"embed_speed: best of {args.repeats}; dlib rows on {args.dlib_faces} faces")
    print(f"{'step':<58}{'ms/face':>10}{'faces/s':>10}")
    for name, seconds in rows:
        print(f"{name:<58}{1000 * seconds:>10.2f}{1 / seconds:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
