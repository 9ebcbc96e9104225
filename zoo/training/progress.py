"""Progress that reaches both the terminal (tqdm bars) and a callback (the dashboard)."""
from __future__ import annotations

from typing import Callable

ProgressCallback = Callable[[dict], None]


class Progress:
    def __init__(self, total_models: int, callback: ProgressCallback | None = None, bars: bool = True) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.callback = callback
        self.bars = bars
        self.outer = tqdm(total=total_models, desc="Zoo", unit="model", position=0, disable=not bars)
        self.inner = None
        self.model = ""

    def start_model(self, name: str, steps: int, unit: str) -> None:
        self.model = name
        if self.inner is not None:
            self.inner.close()
        self.inner = self._tqdm(total=steps, desc=f"  {name}", unit=unit, position=1, leave=False,
                                disable=not self.bars)
        self._emit(stage="model_start", model=name, total=steps)

    def step(self, n: int = 1, **info) -> None:
        if self.inner is not None:
            self.inner.update(n)
            if "loss" in info:
                self.inner.set_postfix(loss=f"{info['loss']:.3f}")
        self._emit(stage="step", model=self.model, **info)

    def end_model(self, name: str, **info) -> None:
        self.outer.update(1)
        self.outer.set_postfix_str(name)
        self._emit(stage="model_done", model=name, **info)

    def message(self, text: str) -> None:
        self.outer.write(text) if self.bars else None
        self._emit(stage="message", text=text)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.outer.close()

    def _emit(self, **event) -> None:
        if self.callback:
            self.callback(event)
