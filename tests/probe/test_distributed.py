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
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

NUM_SETS, CHECK_EVERY, WORLD = 8, 2, 2
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


def test_two_gloo_ranks_compute_disjoint_sets_and_match_one_process(tmp_path):
    import waiting  # tests/store's (tests/conftest.py puts it on the path); this file is the child too

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
    try:  # however busy the machine; a failed rank ends the wait, as its peer would block on it
        waiting.wait_while_progressing(procs, until=lambda: any(p.poll() not in (None, 0) for p in procs))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
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
