"""A small BERT trained from scratch on the listings themselves: a sentencepiece vocabulary of their text, masked
language model pre-training on all train text (labelled or not), then fine-tuning for the LABELS."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification
from transformers.utils import logging as transformers_logging

from sluice_ml.data import LABELS, model_text, oversample

TOKENIZER_FILE = "tokenizer.model"
WEIGHTS_DIR = "bert"
# bf16 dense tensor-core peak of an H100 SXM (no sparsity); H200 has the same compute.
H100_BF16_DENSE_PEAK_FLOPS = 989e12
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4  # fixed sentencepiece ids; [MASK] is the first user-defined symbol


@dataclass(frozen=True)
class Profile:
    hidden: int
    layers: int
    heads: int
    vocab_size: int
    max_length: int
    batch_size: int
    mlm_epochs: float
    max_mlm_steps: int
    finetune_epochs: float
    max_finetune_steps: int
    mlm_lr: float
    finetune_lr: float


PROFILES = {
    # Seconds on a CPU: what tests and smoke runs use; not meant to do well.
    "tiny": Profile(hidden=48, layers=1, heads=2, vocab_size=800, max_length=64, batch_size=32, mlm_epochs=1,
                    max_mlm_steps=100, finetune_epochs=3, max_finetune_steps=300, mlm_lr=1e-3, finetune_lr=1e-3),
    # For the GPU machine: a few minutes on one H100.
    "full": Profile(hidden=256, layers=4, heads=4, vocab_size=8000, max_length=128, batch_size=512, mlm_epochs=40,
                    max_mlm_steps=4000, finetune_epochs=8, max_finetune_steps=2000, mlm_lr=1e-3, finetune_lr=2e-4),
}  # fmt: skip


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # small corpora (tests) may not fill the vocabulary
        character_coverage=0.9995,  # Hangul needs many characters
        byte_fallback=True,  # unseen characters (emoji, rare Hangul) become bytes, not <unk>
        normalization_rule_name="nmt_nfkc_cf",  # case-folded: "FREE" and "free" are one piece
        pad_id=PAD,
        unk_id=UNK,
        bos_id=CLS,
        eos_id=SEP,
        user_defined_symbols=["[MASK]"],
        num_threads=2,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def encode(tokenizer: spm.SentencePieceProcessor, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return [[CLS, *ids[: max_length - 2], SEP] for ids in tokenizer.encode(list(texts))]


def pad_batch(sequences: Sequence[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded to the batch's longest sequence, rounded up to 8 for tensor cores."""
    width = -(-max(len(s) for s in sequences) // 8) * 8
    ids = torch.full((len(sequences), width), PAD, dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
    return ids.to(device, non_blocking=True), (ids != PAD).long().to(device, non_blocking=True)


def mask_tokens(ids: torch.Tensor, vocab_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: 15% of real tokens are predicted; of those 80% become [MASK], 10% a random token, 10% stay."""
    real = (ids != PAD) & (ids != CLS) & (ids != SEP)
    draw = torch.rand(ids.shape, generator=generator, device=ids.device)
    chosen = real & (draw < 0.15)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    inputs = ids.clone()
    inputs[chosen & (draw < 0.15 * 0.8)] = MASK
    swap = chosen & (draw >= 0.15 * 0.8) & (draw < 0.15 * 0.9)
    inputs[swap] = torch.randint(MASK + 1, vocab_size, ids.shape, generator=generator, device=ids.device)[swap]
    return inputs, labels


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Cross-entropy scaled by (1 - p_true)^gamma: easy rows (most normal listings) weigh little."""
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, target[:, None]).squeeze(1)
    return (-alpha[target] * (1 - log_p.exp()) ** gamma * log_p).mean()


def flops_per_token(config: BertConfig, parameters: int, length: float) -> float:
    """Training FLOPs per token: 6 per parameter plus attention scores and weighted sums (forward 4·L·T·d, x3)."""
    return 6 * parameters + 12 * config.num_hidden_layers * length * config.hidden_size


@dataclass
class Throughput:
    """Training-step speed of one phase; synchronised on CUDA so the clock sees finished work."""

    device: torch.device
    samples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    _started: float = 0.0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self._started = time.perf_counter()

    def stop(self, ids: torch.Tensor, loss: torch.Tensor) -> float:
        value = float(loss)  # waits for the step to finish
        self.seconds += time.perf_counter() - self._started
        self.samples += ids.shape[0]
        self.tokens += ids.numel()
        return value

    def summary(self, prefix: str, config: BertConfig, parameters: int) -> dict[str, float]:
        seconds = max(self.seconds, 1e-9)
        result = {f"{prefix}_samples_per_s": self.samples / seconds, f"{prefix}_tokens_per_s": self.tokens / seconds}
        if self.device.type == "cuda" and self.samples:
            flops = flops_per_token(config, parameters, self.tokens / self.samples) * self.tokens / seconds
            result[f"{prefix}_mfu"] = flops / H100_BF16_DENSE_PEAK_FLOPS
        return result


def _batches(n: int, batch_size: int, steps: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """`steps` batches of row indices, epoch after shuffled epoch."""
    order = rng.permutation(n)
    position = 0
    for _ in range(steps):
        if position + batch_size > n:
            order, position = rng.permutation(n), 0
        yield order[position : position + batch_size]
        position += batch_size


def _steps(profile_epochs: float, cap: int, n: int, batch_size: int) -> int:
    return max(1, min(cap, math.ceil(profile_epochs * n / batch_size)))


def _optimizer(model: torch.nn.Module, lr: float, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    return optimizer, schedule


def _bert_config(profile: Profile, vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=profile.hidden,
        num_hidden_layers=profile.layers,
        num_attention_heads=profile.heads,
        intermediate_size=4 * profile.hidden,
        max_position_embeddings=profile.max_length,
        type_vocab_size=1,
        pad_token_id=PAD,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        attn_implementation="sdpa",
    )


def _autocast(device: torch.device) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


class _Trainer:
    """One training run; holds what the phases share (device, profile, random streams, timings)."""

    def __init__(self, profile: Profile, device: torch.device, seed: int) -> None:
        self.profile = profile
        self.device = device
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        torch.manual_seed(seed)
        if device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for whatever runs outside autocast

    def _step(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule: Any, loss: torch.Tensor
    ) -> torch.Tensor:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def pretrain(self, config: BertConfig, sequences: list[list[int]]) -> tuple[BertForMaskedLM, dict[str, float]]:
        model = BertForMaskedLM(config).to(self.device).train()
        steps = _steps(self.profile.mlm_epochs, self.profile.max_mlm_steps, len(sequences), self.profile.batch_size)
        optimizer, schedule = _optimizer(model, self.profile.mlm_lr, steps)
        clock = Throughput(self.device)
        loss = math.nan
        for batch in _batches(len(sequences), self.profile.batch_size, steps, self.rng):
            ids, attention = pad_batch([sequences[i] for i in batch], self.device)
            inputs, targets = mask_tokens(ids, config.vocab_size, self.generator)
            clock.start()
            with _autocast(self.device):
                out = model(input_ids=inputs, attention_mask=attention, labels=targets)
            loss = clock.stop(ids, self._step(model, optimizer, schedule, out.loss))
        parameters = sum(p.numel() for p in model.parameters())
        return model, {"mlm_steps": steps, "mlm_final_loss": loss, **clock.summary("mlm", config, parameters)}

    def finetune(
        self,
        config: BertConfig,
        encoder: BertForMaskedLM,
        sequences: list[list[int]],
        targets: np.ndarray,
        loss_kind: str,
    ) -> tuple[BertForSequenceClassification, dict[str, float]]:
        model = BertForSequenceClassification(config)
        model.bert.load_state_dict(encoder.bert.state_dict(), strict=False)  # the pooler starts fresh
        model.to(self.device).train()
        if loss_kind == "ce":  # oversampled rows, plain cross-entropy
            rows = oversample(targets, self.seed)
            alpha = None
        else:  # focal loss on the rows as they are, each class weighed by its inverse frequency
            rows = np.arange(len(targets))
            counts = np.bincount(targets, minlength=len(LABELS)).clip(min=1)
            alpha = torch.tensor(len(targets) / (len(LABELS) * counts), dtype=torch.float32, device=self.device)
        steps = _steps(
            self.profile.finetune_epochs, self.profile.max_finetune_steps, len(rows), self.profile.batch_size
        )
        optimizer, schedule = _optimizer(model, self.profile.finetune_lr, steps)
        clock = Throughput(self.device)
        all_targets = torch.as_tensor(targets, device=self.device)
        loss = math.nan
        for batch in _batches(len(rows), self.profile.batch_size, steps, self.rng):
            picked = rows[batch]
            ids, attention = pad_batch([sequences[i] for i in picked], self.device)
            y = all_targets[torch.as_tensor(picked, device=self.device)]

            clock.start()
            with _autocast(self.device):
                logits = model(input_ids=ids, attention_mask=attention).logits
            value = F.cross_entropy(logits.float(), y) if alpha is None else focal_loss(logits, y, alpha)
            loss = clock.stop(ids, self._step(model, optimizer, schedule, value))
        parameters = sum(p.numel() for p in model.parameters())
        return model.eval(), {
            "finetune_steps": steps,
            "finetune_final_loss": loss,
            **clock.summary("finetune", config, parameters),
        }


class TransformerModel:
    kind = "transformer"

    def __init__(
        self,
        model: BertForSequenceClassification,
        tokenizer: spm.SentencePieceProcessor,
        max_length: int,
        name: str = "transformer",
        params: Mapping[str, Any] | None = None,
        device: str = "auto",
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.name = name
        self.params = dict(params or {})

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping[str, Any]],
        labels: np.ndarray,
        unlabelled_texts: Sequence[str] = (),
        profile: str = "tiny",
        loss: str = "ce",
        device: str = "auto",
        seed: int = 0,
        name: str = "transformer",
    ) -> TransformerModel:
        """Vocabulary and MLM pre-training on all train text, then fine-tuning on the labelled rows."""
        if loss not in ("ce", "focal"):
            raise ValueError(f"loss must be 'ce' or 'focal', got {loss!r}")
        settings = PROFILES[profile]
        torch_device = resolve_device(device)
        texts = [model_text(row) for row in rows]
        all_texts = [*texts, *unlabelled_texts]
        started = time.perf_counter()
        tokenizer = train_tokenizer(all_texts, settings.vocab_size)
        config = _bert_config(settings, tokenizer.get_piece_size())
        trainer = _Trainer(settings, torch_device, seed)
        encoder, mlm_stats = trainer.pretrain(config, encode(tokenizer, all_texts, settings.max_length))
        targets = np.asarray([LABELS.index(label) for label in labels])
        model, tune_stats = trainer.finetune(
            config, encoder, encode(tokenizer, texts, settings.max_length), targets, loss
        )
        params = {
            "profile": profile,
            "loss": loss,
            "oversample": loss == "ce",
            "seed": seed,
            "device": torch_device.type,
            **asdict(settings),
            "vocab_size": config.vocab_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "pretrain_texts": len(all_texts),
            **mlm_stats,
            **tune_stats,
            "fit_seconds": time.perf_counter() - started,
        }
        return cls(model, tokenizer, settings.max_length, name=name, params=params, device=torch_device.type)

    @torch.inference_mode()
    def predict_proba(self, rows: Sequence[Mapping[str, Any]], batch_size: int = 1024) -> np.ndarray:
        sequences = encode(self.tokenizer, [model_text(row) for row in rows], self.max_length)
        # Rows of similar length share a batch, so little of it is padding.
        order = np.argsort([len(s) for s in sequences], kind="stable")
        proba = np.zeros((len(rows), len(LABELS)), dtype=np.float64)
        for start in range(0, len(rows), batch_size):
            picked = order[start : start + batch_size]
            ids, attention = pad_batch([sequences[i] for i in picked], self.device)
            with _autocast(self.device):
                logits = self.model(input_ids=ids, attention_mask=attention).logits
            proba[picked] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return proba

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        transformers_logging.disable_progress_bar()  # a bar per save clutters the training log
        self.model.save_pretrained(directory / WEIGHTS_DIR)
        (directory / TOKENIZER_FILE).write_bytes(self.tokenizer.serialized_model_proto())
        meta = {
            "kind": self.kind,
            "name": self.name,
            "labels": list(LABELS),
            "max_length": self.max_length,
            "params": self.params,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path, meta: Mapping[str, Any], device: str = "auto") -> TransformerModel:
        directory = Path(directory)
        model = BertForSequenceClassification.from_pretrained(directory / WEIGHTS_DIR, attn_implementation="sdpa")
        tokenizer = spm.SentencePieceProcessor(model_file=str(directory / TOKENIZER_FILE))
        return cls(model, tokenizer, meta["max_length"], name=meta["name"], params=meta.get("params"), device=device)
