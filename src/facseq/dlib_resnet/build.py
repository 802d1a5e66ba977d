"""Build `DlibFaceResNet` from the parsed layer records, checking they have the face ResNet's shape.

The records say everything the torch module needs (filters, strides, paddings, which blocks
downsample) except where the residual connections go, which dlib keeps in the C++ type; that is
checked against the file's tag/skip markers. Each affine layer is folded into the convolution below
it (as dlib's own `fuse_convolutions`): gamma * (conv(x) + b) + beta = conv'(x) + b'.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .input import InputRGB
from .network import DlibFaceResNet
from .records import AddPrev, Affine, Con, DlibNetwork, FcNoBias, Pool, Relu
from .residual import ResidualBlock
from .serialization import DlibFormatError
from .stem import Stem

# top-down version markers each piece adds to the file (2: a layer, 1: a tag or skip)
STEM_MARKERS = [2, 2, 2]  # + the input add_layer's own version, below: max_pool, relu, affine (con)
PLAIN_BLOCK_MARKERS = [2, 2, 2, 2, 2, 2, 2, 1]  # relu, add_prev, affine, con, relu, affine, con, tag1
DOWN_BLOCK_MARKERS = [2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 1]  # relu, add_prev, avg_pool, skip1, tag2, block, tag1
HEAD_MARKERS = [2, 2]  # fc, avg_pool_everything


class LayerCursor:
    """Walks the bottom-up records, taking the ones the architecture expects."""

    def __init__(self, network: DlibNetwork):
        self.network, self.layers, self.i = network, network.layers, 0

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(self.network.path, f"not dlib's face-recognition ResNet: {what} "
                               f"(computational layer {self.i} of {len(self.layers)})")

    def peek(self):
        return self.layers[self.i] if self.i < len(self.layers) else None

    def take(self, kind: type, what: str):
        layer = self.peek()
        if not isinstance(layer, kind):
            raise self.fail(f"expected {what}, found {type(layer).__name__ if layer is not None else 'the end'}")
        self.i += 1
        return layer

    def pool(self, kind: str, what: str) -> Pool:
        pool = self.take(Pool, what)
        if pool.kind != kind or pool.padding != (0, 0):
            raise self.fail(f"expected {what} without padding, found {pool}")
        return pool

    def conv_affine(self) -> nn.Conv2d:
        """con then affine, as one torch convolution with the affine folded in."""
        con: Con = self.take(Con, "con")
        affine: Affine = self.take(Affine, "affine after con")
        out_channels, in_channels, kh, kw = con.weight.shape
        if affine.gamma.shape != (out_channels,):
            raise self.fail(f"affine of {affine.gamma.shape[0]} channels after a con of {out_channels}")
        bias = con.bias if con.bias is not None else np.zeros(out_channels, np.float32)
        # skip_init: no random initialisation of weights overwritten next (it was 0.15 s of a 0.16 s build)
        conv = nn.utils.skip_init(nn.Conv2d, in_channels, out_channels, (kh, kw), con.stride, con.padding, bias=True)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(con.weight * affine.gamma[:, None, None, None]))
            conv.bias.copy_(torch.from_numpy(bias * affine.gamma + affine.beta))
        return conv


def build_face_resnet(network: DlibNetwork) -> DlibFaceResNet:
    cursor = LayerCursor(network)
    stem_conv = cursor.conv_affine()
    cursor.take(Relu, "relu")
    pool = cursor.pool("max", "max_pool")
    stem = Stem(stem_conv, pool.window, pool.stride)
    markers = [network.markers[-1]] + STEM_MARKERS

    blocks = []
    while isinstance(cursor.peek(), Con):
        conv1 = cursor.conv_affine()
        cursor.take(Relu, "relu inside a residual block")
        conv2 = cursor.conv_affine()
        shortcut = None
        if isinstance(cursor.peek(), Pool):
            down = cursor.pool("avg", "avg_pool on a downsampling shortcut")
            shortcut = (down.window, down.stride)
        cursor.take(AddPrev, "add_prev closing a residual block")
        cursor.take(Relu, "relu after add_prev")
        blocks.append(ResidualBlock(conv1, conv2, shortcut))
        markers += (PLAIN_BLOCK_MARKERS if shortcut is None else DOWN_BLOCK_MARKERS)[::-1]

    everything = cursor.pool("avg", "avg_pool_everything")
    if everything.window != (0, 0):
        raise cursor.fail(f"expected avg_pool_everything, found a {everything.window} window")
    fc_record: FcNoBias = cursor.take(FcNoBias, "fc_no_bias")
    if cursor.peek() is not None:
        raise cursor.fail("layers after the fc layer")
    markers += HEAD_MARKERS[::-1]
    if tuple(markers[::-1]) != network.markers:
        raise cursor.fail("the tag/skip layout does not match ares/ares_down residual blocks")

    fc = nn.utils.skip_init(nn.Linear, fc_record.weight.shape[1], fc_record.weight.shape[0], bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(fc_record.weight))
    if network.input.rows != network.input.cols:
        raise cursor.fail(f"input of {network.input.rows}x{network.input.cols} (expected square chips)")
    return DlibFaceResNet(InputRGB(network.input.mean_rgb), stem, blocks, fc, network.input.rows).eval()

