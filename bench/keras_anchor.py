"""Keras / TensorFlow CPU timing of the course's seed models, for
`course-bench --side-by-side`.

    python bench/keras_anchor.py GZ_DIR MODELS STEPS

GZ_DIR holds train-images-idx3-ubyte.gz (course-bench writes it under
target/bench-data/ from the repository's own data/mnist); MODELS is a
comma-separated subset of simple,deep,conv,upconv; STEPS is the number of
128-image batches to time per model. Each model is built as the crate's
preset of the same name builds it (layers, activations, padding, loss, Adam
with learning rate 1e-3), warmed up on 5 batches, then trained one epoch of
STEPS batches. Printed, one line each:

    keras=3.x tensorflow=2.x
    RESULT NAME steps=STEPS ms_per_step=M per_epoch_est=Ss

where S is the time of a 60,000-image epoch (469 batches) at that rate.
Set it up with scripts/keras-venv.sh.
"""

import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

BATCH = 128
BATCHES_PER_EPOCH = 469  # ceil(60000 / 128)
WARM_UP_BATCHES = 5


def read_images(gz_dir):
    """The MNIST training images as float32 in [0, 1], shape (N, 28, 28)."""
    path = os.path.join(gz_dir, "train-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in range(0, 16, 4))
    if magic != 2051 or rows != 28 or cols != 28 or len(raw) != 16 + count * 784:
        sys.exit(f"{path}: not an MNIST image file (magic {magic}, {count}x{rows}x{cols}, {len(raw)} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 28, 28).astype("float32") / 255.0


def dense_model(hidden, code):
    """784 -> hidden... -> code -> reversed hidden... -> 784, relu inside, sigmoid out."""
    sizes = list(hidden) + [code] + list(reversed(hidden))
    stack = [keras.Input(shape=(784,))]
    stack += [layers.Dense(units, activation="relu") for units in sizes]
    stack.append(layers.Dense(784, activation="sigmoid"))
    return keras.Sequential(stack), "mse", lambda x: x.reshape(-1, 784)


def conv_model():
    """Three conv+pool blocks (16, 32, 64) down to 3x3, three stride-2 transposed convolutions up."""
    stack = [keras.Input(shape=(28, 28, 1))]
    for filters in (16, 32, 64):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D(2)]
    stack += [
        layers.Conv2DTranspose(32, 3, strides=2, padding="valid", activation="relu"),
        layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
    ]
    return keras.Sequential(stack), "binary_crossentropy", lambda x: x[..., None]


def upconv_model():
    """Two conv+pool blocks of 32 filters, two conv+up-sampling blocks back, one sigmoid channel."""
    stack = [keras.Input(shape=(28, 28, 1))]
    for _ in range(2):
        stack += [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2)]
    for _ in range(2):
        stack += [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.UpSampling2D(2)]
    stack.append(layers.Conv2D(1, 3, padding="same", activation="sigmoid"))
    return keras.Sequential(stack), "binary_crossentropy", lambda x: x[..., None]


BUILDERS = {
    "simple": lambda: dense_model([], 32),
    "deep": lambda: dense_model([128, 64], 32),
    "conv": conv_model,
    "upconv": upconv_model,
}


def time_model(name, images, steps):
    """Milliseconds per 128-image training step after a warm-up."""
    model, loss, shape = BUILDERS[name]()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss)
    x = shape(images[: BATCH * steps])
    warm = x[: BATCH * WARM_UP_BATCHES]
    model.fit(warm, warm, batch_size=BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, x, batch_size=BATCH, epochs=1, verbose=0)
    return (time.perf_counter() - start) * 1000.0 / steps


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    gz_dir, names, steps = argv[1], argv[2].split(","), argv[3]
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; choose from {','.join(BUILDERS)}")
    if not steps.isdigit() or int(steps) < 1:
        sys.exit(f"STEPS {steps!r} must be a whole number of batches, at least 1")
    steps = int(steps)
    images = read_images(gz_dir)
    if len(images) < BATCH * steps:
        sys.exit(f"{steps} steps need {BATCH * steps} images; the file has {len(images)}")
    import tensorflow as tf

    print(f"keras={keras.__version__} tensorflow={tf.__version__}", flush=True)
    for name in names:
        ms = time_model(name, images, steps)
        print(f"RESULT {name} steps={steps} ms_per_step={ms:.1f} per_epoch_est={ms * BATCHES_PER_EPOCH / 1000.0:.2f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv)
