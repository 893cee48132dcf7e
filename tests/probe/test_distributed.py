"""A probe under torchrun: two gloo ranks on CPU share the sets and match a single-process run.

The module is also the child: ``python test_distributed.py OUT_DIR`` probes as the rank its
environment names (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them) and
writes what it saw to OUT_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

NUM_SETS, CHECK_EVERY, WORLD = 8, 2, 2
STALL_S = 120  # a child rank that gets no CPU time for this long is hung (see _wait_while_progressing)
SCHEME = "cutmixpick_t"  # a picking scheme: its scorer forwards must stay on the set's rank too


LOG: list[str] = []  # module-level: the engine forwards a copy of the teacher (dastat.models.inference)
CHECK_ROWS = 8  # the probe's checks send at most 8 images (input check, agreement sample, memory probe)


class RecordingNet(nn.Module):
    """A tiny teacher that logs a fingerprint of every image of a set it is given (to see who computed what)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.fc = nn.Linear(8 * 4, num_classes)

    def forward(self, x):
        if x.shape[0] > CHECK_ROWS:  # a set's forward: at least one batch of 64
            LOG.extend(hashlib.sha1(image.contiguous().numpy().tobytes()).hexdigest() for image in x)
        h = torch.relu(self.conv(x))
        return 4 * self.fc(nn.functional.adaptive_avg_pool2d(h, 2).flatten(1))


def _probe() -> tuple[np.ndarray, list[str]]:
    """Probe a seeded tiny teacher on 320 synthetic images (one set an epoch, so 8 epochs)."""
    from dastat import data, models, probe

    dataset = data.load("synthetic", num_classes=10, num_images=320, image_size=32, seed=0)
    torch.manual_seed(0)  # tests may seed the global generator; every process builds the same weights
    net = RecordingNet(dataset.num_classes)
    LOG.clear()
    teacher = models.wrap(net, dataset.mean, dataset.std, arch="recording").eval()
    result = probe.measure_scheme(teacher, dataset, SCHEME, max_sets=NUM_SETS, min_sets=NUM_SETS,
                            check_every=CHECK_EVERY, rtol=1e-9, device="cpu", return_sets=True)
    return result.set_means, list(LOG)


def _child(out_dir: Path) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    set_means, forwards = _probe()
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    np.save(out_dir / f"set_means_{rank}.npy", set_means)
    (out_dir / f"forwards_{rank}.json").write_text(json.dumps({"world": world, "forwards": forwards}))
    if dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_process_run() -> tuple[np.ndarray, list[str]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the children: the same float32 reductions, so bit-equal logits
    try:
        return _probe()
    finally:
        torch.set_num_threads(threads)


def _cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of a process in clock ticks (proc(5), fields 14 and 15); None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _wait_while_progressing(procs: list[subprocess.Popen]) -> None:
    """Wait for the children for as long as they make progress, however busy the machine.

    A busy machine slows the children but still gives them CPU time; hung ones (a rank blocked on a peer
    that died) get none. So the bound is on time without any CPU time used by any child, not on the
    wall clock, and a child that fails ends the wait at once (its peer would block on it).
    """
    last, since = None, time.monotonic()
    while any(p.poll() is None for p in procs):
        if any(p.returncode not in (None, 0) for p in procs):
            break
        ticks = [_cpu_ticks(p.pid) for p in procs if p.poll() is None]
        if ticks != last:
            last, since = ticks, time.monotonic()
        elif None not in ticks and time.monotonic() - since > STALL_S:
            break
        time.sleep(0.5)
    hung = [p for p in procs if p.poll() is None]
    for proc in hung:
        proc.kill()
        proc.wait()
    assert not hung or any(p.returncode not in (None, 0) for p in procs if p not in hung), \
        f"{len(hung)} rank(s) used no CPU time for {STALL_S} s: hung, killed"


def test_two_gloo_ranks_compute_disjoint_sets_and_match_one_process(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(WORLD):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(WORLD), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        with (tmp_path / f"stderr_{rank}.txt").open("w") as err:  # a file, not a pipe: a full pipe would block
            procs.append(subprocess.Popen([sys.executable, __file__, str(tmp_path)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=err))
    # The reference runs here while the children start up.
    single_means, single_forwards = _single_process_run()
    _wait_while_progressing(procs)
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, (tmp_path / f"stderr_{rank}.txt").read_text()

    # Per set, 5 batches of 64 images: the pool of 128 (which the teacher scores) and x.
    assert len(single_forwards) == NUM_SETS * 5 * (64 + 128)
    seen: Counter = Counter()
    for rank in range(WORLD):
        logged = json.loads((tmp_path / f"forwards_{rank}.json").read_text())
        assert logged["world"] == WORLD
        # Rank r takes sets r, r + WORLD, ... of each round: half of the sets
        assert len(logged["forwards"]) == len(single_forwards) // WORLD
        seen += Counter(logged["forwards"])
    # Together the ranks scored each image of the single run once.
    assert seen == Counter(single_forwards)

    for rank in range(WORLD):
        gathered = np.load(tmp_path / f"set_means_{rank}.npy")
        assert gathered.shape == (NUM_SETS, 10)
        np.testing.assert_allclose(gathered, single_means, rtol=0, atol=1e-12)


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
