"""Proxy reward models (paper Appendix B.1): a frozen pretrained backbone + a small MLP head per objective.

    features = pool(backbone hidden states of BOS + tokens + EOS)   # frozen, batched, fp32
    z        = MLP(standardize(features))                           # trained head, one per objective
    raw      = z * y_std + y_mean                                   # back to label units

Pooling (`POOLINGS`), measured per objective on the validation split and stored with each head:
  "last"       the final-layer state at EOS (a causal model has read the whole string there)
  "mean"       the mean final-layer state over the string's tokens and EOS (BOS excluded)
  "mean_last"  both, concatenated
  "sum_last"   the sum of those states (mean x length: additive, like atom contributions) and "last"
Every variant also gets log(1 + n_tokens), so that size-extensive labels (polarizability, energy) are
easy to fit from length-normalized features.

A head is saved as `<name>.safetensors` (MLP weights, feature mean/std) + `<name>.json` (label mean/std,
pooling, layer sizes, backbone path and sha256, test metrics). `ProxyModel.predict(texts)` returns NaN for
a text that does not encode cleanly (empty, unknown tokens, longer than the backbone's positions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from irs.checkpoint import load_model_dir, load_tensors, save_tensors
from irs.early_stopping import EarlyStopping
from irs.io import atomic_write_json
from irs.tokenizer import VocabTokenizer

log = logging.getLogger(__name__)

POOLINGS = ("last", "mean", "mean_last", "sum_last")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Frozen backbone features
# ----------------------------------------------------------------------------------------------
class Backbone:
    """A frozen causal LM used as a feature extractor. Caches the features of the last call, so that
    several objectives scoring the same candidates run the backbone once."""

    def __init__(self, model, tokenizer: VocabTokenizer, batch_size: int = 512, path: str | None = None):
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.path = path
        self.max_len = int(getattr(model.config, "n_positions", 1024))
        self._cache: tuple[tuple[str, ...], dict[str, np.ndarray]] | None = None

    @classmethod
    def load(cls, directory: str | os.PathLike, **kw) -> Backbone:
        model, tok = load_model_dir(directory)
        return cls(model, tok, path=str(directory), **kw)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def encodable(self, text: str) -> list[int] | None:
        """BOS + ids + EOS, or None when the text is empty, has unknown tokens or is too long."""
        if not isinstance(text, str) or not text:
            return None
        ids = self.tokenizer.encode(text, add_bos=True, add_eos=True)
        if self.tokenizer.unk_id in ids or len(ids) > self.max_len:
            return None
        return ids

    @torch.inference_mode()
    def features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """{"last": [n, d], "mean": [n, d], "length": [n, 1] = log(1 + tokens incl. EOS), "ok": [n] bool};
        rows with ok=False are 0."""
        key = tuple(texts)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        n, d = len(texts), self.hidden_size
        out = {
            "last": np.zeros((n, d), np.float32),
            "mean": np.zeros((n, d), np.float32),
            "length": np.zeros((n, 1), np.float32),
            "ok": np.zeros(n, bool),
        }
        enc = [self.encodable(t) for t in texts]
        idx = sorted((i for i, e in enumerate(enc) if e is not None), key=lambda i: len(enc[i]))
        body = getattr(self.model, "transformer", None) or self.model.base_model
        for s in range(0, len(idx), self.batch_size):
            rows = idx[s : s + self.batch_size]
            L = max(len(enc[i]) for i in rows)
            x = torch.full((len(rows), L), self.tokenizer.pad_id, dtype=torch.long)
            for r, i in enumerate(rows):
                x[r, : len(enc[i])] = torch.tensor(enc[i])
            attn = x != self.tokenizer.pad_id
            h = body(input_ids=x, attention_mask=attn.long()).last_hidden_state.float()  # [B, L, d]
            lens = attn.sum(1)  # incl. BOS and EOS
            last = h[torch.arange(len(rows)), lens - 1]  # the EOS position
            m = attn.clone()
            m[:, 0] = False  # BOS state is constant
            mean = (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)
            out["last"][rows] = last.numpy()
            out["mean"][rows] = mean.numpy()
            out["length"][rows, 0] = np.log1p(m.sum(1).numpy())  # tokens incl. EOS
            out["ok"][rows] = True
        self._cache = (key, out)
        return out


def pooled(feats: dict[str, np.ndarray], pooling: str) -> np.ndarray:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    sum_ = feats["mean"] * np.expm1(feats["length"])  # length holds log(1 + n_tokens)
    parts = {
        "last": [feats["last"]],
        "mean": [feats["mean"]],
        "mean_last": [feats["mean"], feats["last"]],
        "sum_last": [sum_, feats["last"]],
    }[pooling]
    return np.concatenate(parts + [feats["length"]], axis=1)


# ----------------------------------------------------------------------------------------------
# The head
# ----------------------------------------------------------------------------------------------
@dataclass
class HeadConfig:
    pooling: str = "mean_last"  # one of POOLINGS
    hidden: tuple[int, ...] = (256, 256)  # MLP hidden layer sizes
    dropout: float = 0.0  # dropout between hidden layers
    epochs: int = 30  # max passes over the training features
    batch_size: int = 512  # rows per optimizer step
    lr: float = 1e-3  # AdamW peak learning rate (cosine to 0)
    weight_decay: float = 1e-4  # AdamW weight decay
    patience: int = 6  # stop after this many epochs without validation improvement
    seed: int = 0  # init and shuffling

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"HeadConfig.pooling must be one of {POOLINGS}, got {self.pooling!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) <= 0:
            raise ValueError(f"HeadConfig.hidden must be positive sizes, got {self.hidden}")


class MLPHead(torch.nn.Module):
    def __init__(self, d_in: int, hidden: Sequence[int], dropout: float = 0.0):
        super().__init__()
        layers, d = [], d_in
        for h in hidden:
            layers += [torch.nn.Linear(d, h), torch.nn.GELU()] + ([torch.nn.Dropout(dropout)] if dropout else [])
            d = h
        layers.append(torch.nn.Linear(d, 1))
        self.net = torch.nn.Sequential(*layers)
        self.register_buffer("x_mean", torch.zeros(d_in))
        self.register_buffer("x_std", torch.ones(d_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.x_mean) / self.x_std).squeeze(-1)


def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    ok = np.isfinite(pred) & np.isfinite(true)
    p, t = pred[ok], true[ok]
    r = float(np.corrcoef(p, t)[0, 1]) if len(p) > 1 and p.std() > 0 and t.std() > 0 else float("nan")
    ss_res, ss_tot = float(((p - t) ** 2).sum()), float(((t - t.mean()) ** 2).sum())
    return {
        "pearson_r": r,
        "mae": float(np.abs(p - t).mean()) if len(p) else float("nan"),
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "n": int(ok.sum()),
    }


def train_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, cfg: HeadConfig
) -> tuple[MLPHead, dict]:
    """Fit an MLP on standardized features and labels; keep the best validation epoch."""
    if len(x_train) != len(y_train) or len(x_val) != len(y_val) or len(x_train) < 2:
        raise ValueError(
            f"bad head training data: x_train {x_train.shape}, y_train {y_train.shape}, "
            f"x_val {x_val.shape}, y_val {y_val.shape}"
        )
    torch.manual_seed(cfg.seed)
    y_mean, y_std = float(np.mean(y_train)), float(np.std(y_train) or 1.0)
    head = MLPHead(x_train.shape[1], cfg.hidden, cfg.dropout)
    head.x_mean.copy_(torch.from_numpy(x_train.mean(0)))
    head.x_std.copy_(torch.from_numpy(x_train.std(0) + 1e-6))
    X, Y = torch.from_numpy(x_train).float(), torch.from_numpy((y_train - y_mean) / y_std).float()
    Xv = torch.from_numpy(x_val).float()
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(X) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(cfg.seed)
    stopper = EarlyStopping(head, cfg.patience, mode="min")
    for epoch in range(cfg.epochs):
        head.train()
        perm = torch.randperm(len(X), generator=g)
        for s in range(steps_per_epoch):
            b = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            loss = torch.nn.functional.smooth_l1_loss(head(X[b]), Y[b], beta=1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        with torch.no_grad():
            val_mae = float((head(Xv).numpy() * y_std + y_mean - y_val).__abs__().mean())
        if stopper.step(val_mae, epoch):
            break
    stopper.restore()
    head.eval()
    return head, {
        "y_mean": y_mean,
        "y_std": y_std,
        "best_epoch": stopper.best_epoch,
        "val_mae": stopper.best,
        "epochs_run": epoch + 1,
    }


# ----------------------------------------------------------------------------------------------
# A trained proxy: backbone + one head
# ----------------------------------------------------------------------------------------------
@dataclass
class ProxySpec:
    name: str
    pooling: str
    hidden: tuple[int, ...]
    d_in: int
    y_mean: float
    y_std: float
    backbone: str  # model dir of the backbone, relative to the repo root when possible
    backbone_sha256: str  # of its model.safetensors, checked at load
    extra: dict = field(default_factory=dict)  # provenance and metrics


class ProxyModel:
    """Frozen backbone + trained MLP head. `predict(texts)` gives raw label-unit values, NaN where a
    text cannot be encoded."""

    def __init__(self, backbone: Backbone, head: MLPHead, spec: ProxySpec, preprocess=None, offset=None):
        self.backbone, self.head, self.spec = backbone, head.eval(), spec
        self.preprocess = preprocess  # optional str -> str | None applied before encoding (None = invalid)
        # optional texts -> float array added to the head's output: an exact part of the label the head
        # need not learn (molecules' U0: the free-atom energies); named in spec.extra["offset"]
        self.offset = offset
        if spec.extra.get("offset") and offset is None:
            raise ValueError(
                f"proxy head {spec.name!r} predicts on top of offset {spec.extra['offset']!r}; "
                f"load it with that offset function"
            )

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if self.preprocess is not None:
            texts = [self.preprocess(t) if isinstance(t, str) else None for t in texts]
        texts = [t if isinstance(t, str) else "" for t in texts]
        feats = self.backbone.features(texts)
        x = torch.from_numpy(pooled(feats, self.spec.pooling))
        y = self.head(x).numpy().astype(np.float64) * self.spec.y_std + self.spec.y_mean
        if self.offset is not None:
            y = y + np.asarray(self.offset(texts), dtype=np.float64)
        y[~feats["ok"]] = np.nan
        return y

    __call__ = predict

    def save(self, directory: str | os.PathLike) -> None:
        d = Path(directory)
        save_tensors(self.head.state_dict(), d / f"{self.spec.name}.safetensors")
        spec = asdict(self.spec)
        spec["hidden"] = list(spec["hidden"])
        atomic_write_json(d / f"{self.spec.name}.json", spec)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        name: str,
        backbone: Backbone | None = None,
        root: str | os.PathLike | None = None,
        preprocess=None,
        offsets: dict | None = None,
    ) -> ProxyModel:
        """Load head `name` from `directory`. `backbone`: reuse an already-loaded one (shared across
        heads); otherwise it is loaded from the spec's path, relative to `root` when not absolute."""
        d = Path(directory)
        p = d / f"{name}.json"
        if not p.is_file():
            raise FileNotFoundError(f"no proxy head {name!r} in {d} (missing {p.name})")
        raw = json.loads(p.read_text())
        spec = ProxySpec(**{**raw, "hidden": tuple(raw["hidden"])})
        bpath = Path(spec.backbone)
        if not bpath.is_absolute():
            bpath = Path(root or Path.cwd()) / bpath
        if backbone is None:
            backbone = Backbone.load(bpath)
        weights = bpath / "model.safetensors"
        if weights.is_file() and file_sha256(weights) != spec.backbone_sha256:
            log.warning("proxy %s was trained on a different backbone than %s (sha256 mismatch)", name, bpath)
        head = MLPHead(spec.d_in, spec.hidden)
        state = load_tensors(d / f"{name}.safetensors")
        head.load_state_dict({k: v.float() for k, v in state.items()})
        off = spec.extra.get("offset")
        if off and off not in (offsets or {}):
            raise ValueError(f"proxy head {name!r} needs the offset {off!r}; known: {sorted(offsets or {})}")
        return cls(backbone, head, spec, preprocess, (offsets or {}).get(off) if off else None)
