"""Beam-search decoding speed: batched (`models_core.nn.decode.beam_search`) against a
straightforward one-sentence-at-a-time beam search written here, as a share of the roofline.

    .venv/bin/python benchmarks/bench_decode.py                  # paper + small, threads 1 and 2
    .venv/bin/python benchmarks/bench_decode.py --presets small --threads 2 --quick

Every figure, baseline included, is measured in the same run, each case in a fresh child
process (its own thread count; its own peak memory). Weights are random: the work per step
does not depend on training. With random weights <eos> is almost never chosen, so every beam
runs to the length limit (max_len + 1 = 31 steps at the presets); a trained model stops
earlier, which both implementations profit from alike.

Figures:
- tokens/s: decoder rows advanced per second (B·K per step while sentences are live), the
  tokens beam search generates, whether or not they end up in the best hypothesis.
- roofline: FLOPs per generated token per beam, 2·(Σ_layers 4H·(in + H) + H·V) with in = E + Z
  for the first layer (z is fed at every step) and H after; the measured fp32 matmul rate of
  the output projection's shape [B·K, H] × [H, V] (torch.mm, same process, same threads)
  divided by that count is the decoder's roofline in tokens/s.
- speedup at roofline: that roofline over the baseline's measured tokens/s, the most any
  implementation at that batch could gain over the baseline on this machine. On a CPU the
  baseline's [K, H] × [H, V] product reads the whole output matrix per step for K rows and runs
  at the memory's speed, so this ceiling is the ratio of the large matmul's rate to that one.
- peak memory: CPU: peak RSS of the child during decoding above its RSS before (weights and
  the interpreter excluded); CUDA: torch.cuda.max_memory_allocated during decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from models_core.nn.config import ModelConfig, preset  # noqa: E402
from models_core.nn.decode import beam_search  # noqa: E402
from models_core.nn.model import SentenceVAE  # noqa: E402
from models_core.nn.vocab import EOS, SOS  # noqa: E402

IMPLEMENTATIONS = ("batched", "one-at-a-time")


# ------------------------------------------------------------------------------ the baseline
def beam_search_one_at_a_time(
    model: SentenceVAE, z: torch.Tensor, beam: int, max_len: int, alpha: float = 1.0
) -> list[list[int]]:
    """The usual public implementation: a loop over sentences, the K beams of one sentence in
    one [K] tensor per step, finished hypotheses kept in a Python list; a sentence stops
    when K hypotheses have finished or at the length limit (where <eos> is forced)."""
    results = []
    for row in range(z.shape[0]):
        zk = z[row : row + 1].expand(beam, -1)
        state = model.init_state(zk)
        prev = torch.full((beam,), SOS, dtype=torch.long, device=z.device)
        scores = torch.full((beam,), float("-inf"), device=z.device)
        scores[0] = 0.0
        seqs: list[list[int]] = [[] for _ in range(beam)]
        finished: list[tuple[float, list[int]]] = []
        for t in range(max_len + 1):
            logits, state = model.decode_step(prev, state, zk)
            logp = F.log_softmax(logits.float(), dim=-1)
            if t == max_len:
                for k, s in enumerate((scores + logp[:, EOS]).tolist()):
                    finished.append((s / (t + 1) ** alpha, seqs[k]))
                break
            top, idx = (scores.unsqueeze(1) + logp).view(-1).topk(2 * beam)
            vocab = logp.shape[1]
            keep_beam, keep_tok, keep_score = [], [], []
            for s, i in zip(top.tolist(), idx.tolist(), strict=True):
                k, tok = divmod(i, vocab)
                if tok == EOS:
                    finished.append((s / (t + 1) ** alpha, seqs[k]))
                elif len(keep_tok) < beam:
                    keep_beam.append(k)
                    keep_tok.append(tok)
                    keep_score.append(s)
            if len(finished) >= beam:
                break
            seqs = [seqs[k] + [tok] for k, tok in zip(keep_beam, keep_tok, strict=True)]
            index = torch.tensor(keep_beam, device=z.device)
            state = (state[0].index_select(1, index), state[1].index_select(1, index))
            prev = torch.tensor(keep_tok, device=z.device)
            scores = torch.tensor(keep_score, device=z.device)
        results.append(max(finished, key=lambda f: f[0])[1])
    return results


# ------------------------------------------------------------------------------ measurement
def flops_per_token(c: ModelConfig) -> int:
    """FLOPs of one decoder step for one beam: the LSTM layers and the V-way projection."""
    first_in = c.embed_dim + (c.latent_dim if c.feed_z else 0)
    lstm = sum(
        4 * c.hidden_dim * ((first_in if i == 0 else c.hidden_dim) + c.hidden_dim)
        for i in range(c.num_layers)
    )
    return 2 * (lstm + c.hidden_dim * c.vocab_size)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(rows: int, c: ModelConfig, device: torch.device, seconds: float = 1.0) -> float:
    """Measured fp32 FLOP/s of torch.mm at the output projection's shape [rows, H] × [H, V]."""
    a = torch.randn(rows, c.hidden_dim, device=device)
    b = torch.randn(c.hidden_dim, c.vocab_size, device=device)
    out = torch.empty(rows, c.vocab_size, device=device)
    torch.mm(a, b, out=out)  # warm-up
    sync(device)
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n < 3:
        torch.mm(a, b, out=out)
        sync(device)
        n += 1
    return 2 * rows * c.hidden_dim * c.vocab_size * n / elapsed


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_case(
    preset_name: str, impl: str, batch: int, beam: int, sentences: int, device: torch.device
) -> dict:
    """One timed decode of `sentences` of a batch of `batch` prior latents (the child's job).

    The batched implementation decodes the whole batch (sentences = batch). The baseline's
    rate does not depend on the batch, since it decodes one sentence after the other, so it
    may time only the first `sentences` to keep the benchmark short.
    """
    torch.manual_seed(0)
    c = preset(preset_name).model
    model = SentenceVAE(c).to(device).eval()
    z = torch.randn(batch, c.latent_dim, device=device)[:sentences]
    rows = [0]
    step = model.decode_step

    def counting_step(prev_ids, state, zk):
        rows[0] += prev_ids.numel()
        return step(prev_ids, state, zk)

    model.decode_step = counting_step  # type: ignore[method-assign]

    def decode(max_len: int) -> None:
        with torch.inference_mode():
            if impl == "batched":
                beam_search(model, z, beam=beam, max_len=max_len)
            else:
                beam_search_one_at_a_time(model, z, beam, max_len)

    rate = matmul_rate(batch * beam, c, device)
    decode(2)  # warm-up: allocator, kernels, thread pool
    rows[0] = 0
    rss_before = rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    sync(device)
    start = time.perf_counter()
    decode(c.max_len)
    sync(device)
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base_cuda
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    tokens_s = rows[0] / seconds
    roofline = rate / flops_per_token(c)
    return {
        "preset": preset_name,
        "impl": impl,
        "batch": batch,
        "beam": beam,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "seconds": seconds,
        "tokens": rows[0],
        "tokens_s": tokens_s,
        "sentences": sentences,
        "sentences_s": sentences / seconds,
        "mm_gflops": rate / 1e9,
        "mflop_per_token": flops_per_token(c) / 1e6,
        "roofline_tokens_s": roofline,
        "roofline_share": tokens_s / roofline,
        "peak_mib": max(peak, 0) / 2**20,
    }


# --------------------------------------------------------------------------------- driver
def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.child_threads)
    device = torch.device(args.device)
    result = run_case(args.preset, args.impl, args.batch, args.beam, args.sentences, device)
    print(json.dumps(result))


def spawn(
    preset_name: str, impl: str, batch: int, beam: int, sentences: int, threads: int, device: str
) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [
        sys.executable,
        __file__,
        "--child",
        f"--preset={preset_name}",
        f"--impl={impl}",
        f"--batch={batch}",
        f"--beam={beam}",
        f"--sentences={sentences}",
        f"--child-threads={threads}",
        f"--device={device}",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["paper", "small"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--baseline-sentences",
        type=int,
        default=20,
        help="sentences the one-at-a-time baseline times (its rate does not depend on it)",
    )
    parser.add_argument("--quick", action="store_true", help="batch 40 instead of 200")
    parser.add_argument("--sentences", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    batch = 40 if args.quick else args.batch
    threads = [1] if args.device == "cuda" else args.threads
    print(f"torch {torch.__version__}, device {args.device}, beam {args.beam}")
    header = (
        "| preset | threads | batch | implementation | sentences timed | s | tokens/s "
        "| sentences/s "
        "| matmul GFLOP/s | roofline tokens/s | % of roofline | peak MiB | speedup "
        "| speedup at roofline |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name in args.presets:
        for th in threads:
            for b in (batch, 1):
                results = {
                    "batched": spawn(name, "batched", b, args.beam, b, th, args.device),
                    "one-at-a-time": spawn(
                        name,
                        "one-at-a-time",
                        b,
                        args.beam,
                        min(b, args.baseline_sentences),
                        th,
                        args.device,
                    ),
                }
                base = results["one-at-a-time"]["tokens_s"]
                ceiling = results["batched"]["roofline_tokens_s"] / base
                for impl, r in results.items():
                    print(
                        f"| {name} | {th} | {b} | {impl} | {r['sentences']} | {r['seconds']:.2f} "
                        f"| {r['tokens_s']:,.0f} | {r['sentences_s']:.1f} "
                        f"| {r['mm_gflops']:.1f} | {r['roofline_tokens_s']:,.0f} "
                        f"| {100 * r['roofline_share']:.0f}% | {r['peak_mib']:.0f} "
                        f"| {r['tokens_s'] / base:.1f}× "
                        f"| {f'{ceiling:.1f}×' if impl == 'batched' else '–'} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
