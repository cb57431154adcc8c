"""A published architecture end to end: Keras' MobileNetV2 (alpha 0.35, 96x96, random weights,
10 classes, no softmax), converted by TensorFlow's own converter to full-integer int8, benched
by cmsim with every variant against TFLite's reference kernels. Needs TensorFlow (not
installed by .ci/setup; not run by CI).

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tf/bin/python tests/bench/keras_mobilenet_v2.py [--cmsis-nn PATH] [--board B]

The random weights leave the logits with a scale near 1e-8; with a softmax on top, TFLite's
int8 softmax cannot run the model (cmsim refuses it, see README), hence no softmax.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="/tmp/mobilenet_v2_035_96.tflite")
    parser.add_argument("--cmsis-nn", default=None)
    parser.add_argument("--board", default="m4-ideal")
    args = parser.parse_args()
    out = Path(args.out)
    make_fixtures.HERE = out.parent
    keras.utils.set_random_seed(5)
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None
    )
    make_fixtures.convert(model, out.stem)
    command = [str(ROOT / ".venv" / "bin" / "cmsim"), "bench", "--model", str(out)]
    command += ["--board", args.board]
    if args.cmsis_nn:
        command += ["--cmsis-nn", args.cmsis_nn]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
