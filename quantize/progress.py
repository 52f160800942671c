"""Progress a person can follow: bars on a terminal, a few plain lines in a log (CI, systemd)."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def interactive() -> bool:
    return sys.stderr.isatty()


def step(message: str) -> None:
    print(f"[classroom-quantize] {message}", flush=True)


def bar(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """tqdm on a terminal; elsewhere one line when done, so logs stay short."""
    if interactive():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, total=total, leave=False, file=sys.stderr)
        return
    started = time.perf_counter()
    count = 0
    for item in items:
        count += 1
        yield item
    print(f"  {desc}: {count} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def epoch_callback(desc: str, epochs: int):
    """A Keras callback: an epoch bar with loss and accuracy, or a line every few epochs."""
    import tf_keras as keras

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()
            self.tqdm = None
            if interactive():
                from tqdm import tqdm

                self.tqdm = tqdm(total=epochs, desc=desc, unit="epoch", leave=False, file=sys.stderr)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            figures = " ".join(f"{k} {v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy"))
            if self.tqdm is not None:
                self.tqdm.set_postfix_str(figures)
                self.tqdm.update(1)
            elif (epoch + 1) % max(1, epochs // 4) == 0 or epoch + 1 == epochs:
                print(f"  {desc}: epoch {epoch + 1}/{epochs} {figures}", file=sys.stderr, flush=True)

        def on_train_end(self, logs=None):
            if self.tqdm is not None:
                self.tqdm.close()
            print(f"  {desc}: {epochs} epochs in {time.perf_counter() - self.started:.1f} s",
                  file=sys.stderr, flush=True)

    return EpochProgress()
