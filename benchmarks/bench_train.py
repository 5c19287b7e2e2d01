"""Training throughput of `SentenceVAE` against a padded baseline and the matmul roofline.

    .venv/bin/python benchmarks/bench_train.py                      # small + paper, 1 and 2 threads
    .venv/bin/python benchmarks/bench_train.py --presets paper --threads 2 --steps 12
    .venv/bin/python benchmarks/bench_train.py --bf16-steps 300     # also the bf16 ELBO check

Every figure is measured in this run, each configuration in a fresh subprocess (so peak RSS
is its own):

- matmul roofline: the best fp32 (and bf16) `torch.mm` rate of square 2048/4096 matrices at
  each thread count, printed first; and, because other jobs come and go, a quick 2048 probe in
  every worker's own process just before and after its timed steps (the higher is its roofline,
  the "roof" column). % of roofline = achieved FLOP rate / that matmul rate.
- ours: `models_core.nn.train.train` itself (bucketed batches, padded oneDNN LSTMs, fused
  linear + cross entropy on real tokens only, fused Adam, clipping).
- padded: a straightforward implementation of the same model, written below as public
  implementations do: random batches, padded LSTMs, logits and softmax over every padded
  slot with ``ignore_index``, `F.cross_entropy`, default Adam.
- packed: the same, but with packed LSTMs re-padded before the projection, as in
  timbmg/Sentence-VAE (on the CPU the packed LSTM path is the slower one).

FLOPs per trained token (fwd + bwd = 3 x fwd, embedding lookups and the per-sentence latent
layers left out): 3 · 2 · [4H(E + H) + 4H(E + Z + H) + H·V] — 79.8 M at the paper's sizes,
three quarters of it the V-way output layer. Tokens are real tokens (words + <eos>) for both
implementations: padding is work, not output. The sentence lengths are those of the real
corpus in /work/shared/corpora/sentences (5–30 words).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models_core.nn.config import ModelConfig, preset  # noqa: E402
from models_core.nn.data import BucketBatcher, collate  # noqa: E402
from models_core.nn.objectives import objective_preset  # noqa: E402
from models_core.nn.train import TrainCallback, evaluate, train  # noqa: E402
from models_core.nn.vocab import EOS, PAD, SOS, UNK  # noqa: E402

CORPUS = Path("/work/shared/corpora/sentences")
MIN_WORDS, MAX_WORDS = 5, 30  # Sect. 3
# Timed steps: enough batches that the mix of bucket lengths is representative.
DEFAULT_STEPS = {"tiny": 100, "small": 30, "paper": 8}


def flops_per_token(cfg: ModelConfig) -> float:
    """Forward + backward FLOPs per trained token of the LSTMs and the output layer."""
    e, h, z, v = cfg.embed_dim, cfg.hidden_dim, cfg.latent_dim, cfg.vocab_size
    encoder = 4 * h * (e + h)
    decoder = 4 * h * (e + (z if cfg.feed_z else 0) + h)
    return 3 * 2 * (cfg.num_layers * (encoder + decoder) + h * v)


def load_sentences(vocab_size: int, limit: int | None = None) -> list[list[int]]:
    """Real sentences of 5–30 tokens, ids by frequency rank (the rarest become <unk>)."""
    lines = []
    for path in sorted(CORPUS.glob("*.txt")):
        with path.open(encoding="utf-8") as f:
            lines.extend(
                w for w in (line.split() for line in f) if MIN_WORDS <= len(w) <= MAX_WORDS
            )
    counts = Counter(w for words in lines for w in words)
    ids = {w: i + EOS + 1 for i, (w, _) in enumerate(counts.most_common(vocab_size - EOS - 1))}
    sentences = [[ids.get(w, UNK) for w in words] for words in lines]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(sentences))
    return [sentences[i] for i in order[:limit]]


# ------------------------------------------------------------------------ the padded baseline
class PaddedReference(nn.Module):
    """The same sentence VAE written the common way: logits and softmax over [B, T, V].

    ``packed_lstms=False``: padded LSTMs too ("padded"). ``packed_lstms=True``: the LSTMs
    read packed sequences and the decoder's output is re-padded before the projection, as in
    timbmg/Sentence-VAE, a widely used public implementation ("packed").
    """

    def __init__(self, cfg: ModelConfig, packed_lstms: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.packed_lstms = packed_lstms
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD)
        self.encoder = nn.LSTM(cfg.embed_dim, cfg.hidden_dim, batch_first=True)
        self.to_posterior = nn.Linear(cfg.hidden_dim, 2 * cfg.latent_dim)
        self.to_state = nn.Linear(cfg.latent_dim, 2 * cfg.hidden_dim)
        self.decoder = nn.LSTM(cfg.embed_dim + cfg.latent_dim, cfg.hidden_dim, batch_first=True)
        self.output = nn.Linear(cfg.hidden_dim, cfg.vocab_size)

    def _run(self, lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, state=None):
        if not self.packed_lstms:
            return lstm(x, state)[0]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed, state)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def loss(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t = tokens.shape
        enc = self._run(self.encoder, self.embedding(tokens), lengths)
        mu, logvar = self.to_posterior(enc[torch.arange(b), lengths - 1]).chunk(2, -1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        inputs = torch.cat([torch.full((b, 1), SOS), tokens[:, :-1]], 1)
        drop = torch.rand(b, t) < self.cfg.word_dropout
        inputs = inputs.masked_fill(drop & (inputs != SOS), UNK)
        x = torch.cat([self.embedding(inputs), z.unsqueeze(1).expand(b, t, -1)], -1)
        h0, c0 = self.to_state(z).chunk(2, -1)
        state = (torch.tanh(h0).unsqueeze(0), c0.unsqueeze(0).contiguous())
        out = self._run(self.decoder, x, lengths, state)
        logits = self.output(out)  # [B, T, V]: every padded slot too
        nll = F.cross_entropy(
            logits.reshape(b * t, -1), tokens.reshape(-1), ignore_index=PAD, reduction="sum"
        )
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
        return (nll + kl) / b


# ---------------------------------------------------------------------------------- workers
def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def matmul_gflops(
    dtype: torch.dtype, sizes: tuple[int, ...] = (2048, 4096), reps: int = 3
) -> float:
    """Best `torch.mm` rate over square sizes, at the current thread count."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        for _ in range(reps):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best / 1e9


def matmul_worker(threads: int) -> dict:
    torch.set_num_threads(threads)
    return {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}


def roofline_gflops(dtype: torch.dtype) -> float:
    """The matmul rate in this process right now: a quick probe (contention varies)."""
    return matmul_gflops(dtype, sizes=(2048,), reps=3)


class _StepClock(TrainCallback):
    """Times the steps after `warmup`; counts real tokens and padded slots."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0
        self.tokens = self.slots = self.steps = 0

    def on_step(self, record: dict) -> None:
        if record["step"] == self.warmup:
            self.start = time.perf_counter()
        elif record["step"] > self.warmup:
            self.tokens += record["tokens"]
            self.slots += record["tokens"] / (1.0 - record["padding"])
            self.steps += 1
            self.end = time.perf_counter()


def ours_worker(preset_name: str, threads: int, steps: int, warmup: int, bf16: bool) -> dict:
    torch.set_num_threads(threads)
    p = preset(preset_name)
    data = load_sentences(p.model.vocab_size)
    dtype = torch.bfloat16 if bf16 else torch.float32
    roof_before = roofline_gflops(dtype)
    rss_setup = rss_mib()
    clock = _StepClock(warmup)
    cfg = p.train.replace(
        steps=warmup + steps,
        device="cpu",
        bf16=bf16,
        num_threads=threads,
        log_every=1,
        eval_every=10**9,
        checkpoint_every=10**9,
    )
    train(p.model, cfg, objective_preset("vae"), data, callbacks=[clock])
    return {
        "tokens_per_s": clock.tokens / (clock.end - clock.start),
        "s_per_step": (clock.end - clock.start) / clock.steps,
        "tokens_per_step": clock.tokens / clock.steps,
        "padding_share": 1 - clock.tokens / clock.slots,
        "roofline_gflops": max(roof_before, roofline_gflops(dtype)),
        "rss_setup_mib": rss_setup,
        "peak_rss_mib": peak_rss_mib(),
    }


def padded_worker(preset_name: str, threads: int, steps: int, warmup: int, packed: bool) -> dict:
    torch.set_num_threads(threads)
    p = preset(preset_name)
    data = load_sentences(p.model.vocab_size)
    roof_before = roofline_gflops(torch.float32)
    rss_setup = rss_mib()
    torch.manual_seed(0)
    model = PaddedReference(p.model, packed_lstms=packed)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.train.lr)
    size = p.train.batch_size
    order = np.random.default_rng(0).permutation(len(data))
    tokens = slots = 0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        batch = collate([data[i] for i in order[step * size : (step + 1) * size]])
        loss = model.loss(*batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), p.train.grad_clip)
        optimizer.step()
        if step >= warmup:
            tokens += batch.num_tokens
            slots += batch.tokens.numel()
    elapsed = time.perf_counter() - start
    return {
        "tokens_per_s": tokens / elapsed,
        "s_per_step": elapsed / steps,
        "tokens_per_step": tokens / steps,
        "padding_share": 1 - tokens / slots,
        "roofline_gflops": max(roof_before, roofline_gflops(torch.float32)),
        "rss_setup_mib": rss_setup,
        "peak_rss_mib": peak_rss_mib(),
    }


def bf16_elbo_worker(preset_name: str, threads: int, steps: int) -> dict:
    """Train the same seed in fp32 and in bf16; compare the test ELBO (both scored in fp32,
    and the bf16 model also scored in bf16)."""
    torch.set_num_threads(threads)
    p = preset(preset_name)
    data = load_sentences(p.model.vocab_size)
    split = len(data) * 9 // 10
    train_data, test_data = data[:split], data[split:]
    out: dict = {"steps": steps}
    models = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        cfg = p.train.replace(
            steps=steps,
            device="cpu",
            bf16=bf16,
            log_every=1,
            eval_every=10**9,
            checkpoint_every=10**9,
        )
        clock = _StepClock(1)
        models[name] = train(p.model, cfg, objective_preset("vae"), train_data, callbacks=[clock])
        out[f"{name}_tokens_per_s"] = clock.tokens / (clock.end - clock.start)

    def test_elbo(name: str, bf16: bool) -> float:
        batches = BucketBatcher(test_data, p.train.batch_size, shuffle=False).epoch()
        return evaluate(models[name].model, batches, seed=1, bf16=bf16)["elbo"]

    out["fp32_model_test_elbo"] = test_elbo("fp32", False)
    out["bf16_model_test_elbo_fp32_eval"] = test_elbo("bf16", False)
    out["bf16_model_test_elbo_bf16_eval"] = test_elbo("bf16", True)
    out["fp32_model_test_elbo_bf16_eval"] = test_elbo("fp32", True)
    return out


# ------------------------------------------------------------------------------------- main
def run_worker(kind: str, **kwargs) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps({"kind": kind, **kwargs})]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} {kwargs} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["small", "paper"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--steps", type=int, help="timed steps per configuration (default: small 30, paper 8)"
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="also time ours under bf16 autocast")
    parser.add_argument("--bf16-steps", type=int, default=0, help="fp32 vs bf16 ELBO check")
    parser.add_argument("--bf16-preset", default="small")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        spec = json.loads(args.worker)
        kind = spec.pop("kind")
        fn = {
            "matmul": matmul_worker,
            "ours": ours_worker,
            "padded": padded_worker,
            "bf16_elbo": bf16_elbo_worker,
        }[kind]
        print(json.dumps(fn(**spec)))
        return

    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    bf16_cpu = "avx512_bf16" in cpuinfo or "amx_bf16" in cpuinfo
    print(f"# bench_train  torch {torch.__version__}  {cpu}  {os.cpu_count()} CPUs")
    print(f"# native bf16 instructions: {'yes' if bf16_cpu else 'no'}")
    print(f"# load average at start: {os.getloadavg()} (other work on the machine skews figures)")
    results: dict = {"cpu": cpu, "torch": torch.__version__, "load_start": os.getloadavg()}

    rates = {t: run_worker("matmul", threads=t) for t in args.threads}
    results["matmul_gflops"] = rates
    for t, r in rates.items():
        print(f"matmul rate, {t} thread(s): fp32 {r['fp32']:.1f} GFLOP/s, bf16 {r['bf16']:.1f}")

    header = (
        f"{'preset':7} {'impl':9} {'thr':>3} {'tok/s':>7} {'s/step':>7} {'tok/step':>8} "
        f"{'pad':>4} {'GFLOP/s':>7} {'roof':>6} {'%roof':>5} {'vs padded':>9} {'peak RSS':>9}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    results["runs"] = []
    impls = [
        ("padded", "padded", {"packed": False}),
        ("packed", "padded", {"packed": True}),
        ("ours", "ours", {"bf16": False}),
    ]
    if args.bf16:
        impls.append(("ours-bf16", "ours", {"bf16": True}))
    for name in args.presets:
        cfg = preset(name).model
        fpt = flops_per_token(cfg)
        steps = args.steps or DEFAULT_STEPS.get(name, 10)
        print(f"# {name}: {fpt / 1e6:.1f} MFLOP per trained token, {steps} timed steps")
        for t in args.threads:
            base = None
            for label, kind, extra in impls:
                r = run_worker(
                    kind, preset_name=name, threads=t, steps=steps, warmup=args.warmup, **extra
                )
                gflops = r["tokens_per_s"] * fpt / 1e9
                base = r["tokens_per_s"] if label == "padded" else base
                print(
                    f"{name:7} {label:9} {t:>3} {r['tokens_per_s']:>7.0f} "
                    f"{r['s_per_step']:>7.3f} {r['tokens_per_step']:>8.0f} "
                    f"{100 * r['padding_share']:>3.0f}% {gflops:>7.1f} "
                    f"{r['roofline_gflops']:>6.1f} {100 * gflops / r['roofline_gflops']:>4.0f}% "
                    f"{r['tokens_per_s'] / base:>8.2f}x {r['peak_rss_mib']:>5.0f} MiB",
                    flush=True,
                )
                results["runs"].append(
                    {"preset": name, "impl": label, "threads": t, "gflops": gflops, **r}
                )

    if args.bf16_steps:
        r = run_worker(
            "bf16_elbo",
            preset_name=args.bf16_preset,
            threads=max(args.threads),
            steps=args.bf16_steps,
        )
        results["bf16_elbo"] = r
        ref = r["fp32_model_test_elbo"]
        print(f"\n# bf16 vs fp32, {args.bf16_preset} preset, {r['steps']} steps, same seed")
        for key in (
            "fp32_model_test_elbo",
            "bf16_model_test_elbo_fp32_eval",
            "bf16_model_test_elbo_bf16_eval",
            "fp32_model_test_elbo_bf16_eval",
        ):
            print(f"{key:34} {r[key]:9.3f}  ({100 * (r[key] - ref) / abs(ref):+.2f}%)")
        print(
            f"train tokens/s fp32 {r['fp32_tokens_per_s']:.0f}, bf16 {r['bf16_tokens_per_s']:.0f}"
        )

    results["load_end"] = os.getloadavg()
    print(f"\n# load average at end: {results['load_end']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
