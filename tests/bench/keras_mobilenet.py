"""Published architectures end to end: Keras' MobileNetV2 (alpha 0.35) and MobileNetV3-Small
(alpha 0.75), 96x96 inputs, random weights, 10 classes, no softmax, converted by TensorFlow's
own converter to full-integer int8 and benched by cmsim with every variant against TFLite's
reference kernels. Needs TensorFlow (not installed by .ci/setup; not run by CI).

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tf/bin/python tests/bench/keras_mobilenet.py [--arch v2|v3] [--board B] [--cmsis-nn PATH]

The random weights leave the logits with a scale near 1e-8; with a softmax on top, TFLite's
int8 softmax cannot run the model (cmsim refuses it, see README), hence no softmax.
MobileNetV3-Small's 1.1 MB of weights need a board with 2 MB of flash (nucleo-l4r5zi).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "data" / "tflite"))

import make_fixtures  # noqa: E402
from tensorflow import keras  # noqa: E402

ARCHITECTURES = {
    "v2": ("mobilenet_v2_035_96", "m4-ideal", lambda: keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10,
        classifier_activation=None)),
    "v3": ("mobilenet_v3s_075_96", "nucleo-l4r5zi", lambda: keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), alpha=0.75, weights=None, classes=10,
        include_preprocessing=False, classifier_activation=None)),
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", choices=ARCHITECTURES, default="v2")
    parser.add_argument("--out", default="/tmp", help="folder for the .tflite")
    parser.add_argument("--board", default=None, help="default: m4-ideal (v2), nucleo-l4r5zi (v3)")
    parser.add_argument("--cmsis-nn", default=None)
    args = parser.parse_args()
    name, board, build = ARCHITECTURES[args.arch]
    make_fixtures.HERE = Path(args.out)
    keras.utils.set_random_seed(5)
    make_fixtures.convert(build(), name)
    model = Path(args.out) / f"{name}.tflite"
    command = [str(ROOT / ".venv" / "bin" / "cmsim"), "bench", "--model", str(model)]
    command += ["--board", args.board or board]
    if args.cmsis_nn:
        command += ["--cmsis-nn", args.cmsis_nn]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
