"""Regenerate the converter-made fixtures in this folder (needs TensorFlow; not run by CI).

These .tflite files are what a user brings: Keras models converted by TensorFlow's own
converter to full-integer int8, with its quirks (a dynamic batch turned into SHAPE /
STRIDED_SLICE / PACK before a RESHAPE, QUANTIZE / DEQUANTIZE at float edges, uint8 inputs,
per-tensor quantization when per-channel is disabled, FULLY_CONNECTED keeping dimensions).
The weights are random; the test checks cmsim against TFLite on them, not their accuracy.

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tf/bin/python tests/data/tflite/make_fixtures.py
"""

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras

L = keras.layers
HERE = Path(__file__).parent


def convert(model, name: str, io=tf.int8, per_channel: bool = True) -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    shape = model.input_shape[1:]

    def representative():
        for _ in range(16):
            yield [rng.uniform(-1, 1, (1, *shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io is not None:
        converter.inference_input_type = io
        converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel = not per_channel
    (HERE / f"{name}.tflite").write_bytes(converter.convert())


def small_cnn(batch_size=None) -> keras.Model:
    keras.utils.set_random_seed(1)
    i = keras.Input((16, 16, 3), batch_size=batch_size)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(i)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    y = L.Conv2D(16, 3, padding="same")(x)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.MaxPooling2D(2)(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Dense(10)(L.Flatten()(x))
    return keras.Model(i, L.Softmax()(x))


def sequence_mlp() -> keras.Model:
    keras.utils.set_random_seed(2)
    i = keras.Input((4, 12), batch_size=1)
    x = L.Dense(16, activation="relu")(i)  # on a 3-D input: FULLY_CONNECTED keeps dims
    x = L.Dense(6)(x)
    return keras.Model(i, x)


def padded_gap_cnn() -> keras.Model:
    """The MobileNet pattern: explicit ZeroPadding2D (PAD) before a stride-2 VALID conv, and
    GlobalAveragePooling2D (MEAN) before the classifier, once keeping dimensions."""
    keras.utils.set_random_seed(4)
    i = keras.Input((15, 15, 3), batch_size=1)
    x = L.ZeroPadding2D(((0, 1), (0, 1)))(i)
    x = L.Conv2D(8, 3, strides=2, activation="relu6")(x)
    a = L.GlobalAveragePooling2D()(x)
    b = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(8, 1)(x)))
    return keras.Model(i, L.Dense(4)(L.Add()([a, b])))


def concat_cnn() -> keras.Model:
    """Two branches joined by Concatenate (CONCATENATION), a ReLU after a global average
    pooling (a stand-alone RELU: nothing to fuse it into), a binary classifier's sigmoid
    (LOGISTIC)."""
    keras.utils.set_random_seed(6)
    i = keras.Input((12, 12, 4), batch_size=1)
    a = L.Conv2D(6, 3, padding="same")(i)
    b = L.Conv2D(5, 1)(i)
    x = L.Concatenate()([a, b])
    x = L.ReLU(max_value=6.0)(L.GlobalAveragePooling2D()(x))
    return keras.Model(i, L.Dense(1, activation="sigmoid")(x))


def se_cnn() -> keras.Model:
    """EfficientNet's pieces: swish (LOGISTIC then MUL), a squeeze-and-excite block (MEAN,
    1x1 convolutions, sigmoid, MUL broadcasting [1, 1, 1, C] over [1, H, W, C]) and a bias
    added by broadcasting (ADD)."""
    keras.utils.set_random_seed(7)
    i = keras.Input((10, 10, 3), batch_size=1)
    x = L.Conv2D(8, 3, padding="same", activation="swish")(i)
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="sigmoid")(s)
    x = L.Multiply()([x, s])
    x = L.Add()([x, L.Conv2D(8, 1)(L.AveragePooling2D(10)(x))])
    return keras.Model(i, L.Dense(2)(L.Flatten()(L.GlobalAveragePooling2D()(x))))


def mlp() -> keras.Model:
    keras.utils.set_random_seed(3)
    i = keras.Input((20,))
    return keras.Model(i, L.Dense(8)(L.Dense(32, activation="relu")(i)))


if __name__ == "__main__":
    convert(small_cnn(), "cnn_int8")
    convert(small_cnn(batch_size=1), "cnn_batch1_int8")
    convert(small_cnn(), "cnn_float_io", io=None)
    convert(small_cnn(), "cnn_per_tensor", per_channel=False)
    convert(mlp(), "mlp_uint8_in", io=tf.uint8)
    convert(sequence_mlp(), "dense_keep_dims")
    convert(padded_gap_cnn(), "cnn_pad_mean")
    convert(concat_cnn(), "cnn_concat_relu")
    convert(se_cnn(), "cnn_se_swish")
    print(f"TensorFlow {tf.__version__}: wrote", sorted(p.name for p in HERE.glob("*.tflite")))
