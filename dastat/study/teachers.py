"""The study's teachers: a given checkpoint, a RepDistiller teacher on disk, or one trained here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dastat.data.dataset import ImageTensorDataset
from dastat.errors import CheckpointError

# RepDistiller's teacher layout (docs/method.md, "Models and checkpoints"):
# save/models/<arch>_vanilla/ckpt_epoch_240.pth
REPDISTILLER_FILE = "ckpt_epoch_240.pth"


@dataclass(frozen=True)
class TeacherInfo:
    """Where a study's teacher came from and how good it is on the test split."""

    arch: str
    path: str
    origin: str  # "given" | "teacher_dir" | "trained" | "trained_before" (an earlier run of the study)
    test_loss: float
    test_acc1: float
    epochs: int | None
    elapsed_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _given_path(pair: dict, teacher_dir: str | None) -> tuple[Path | None, str]:
    if pair.get("teacher_path"):
        path = Path(pair["teacher_path"])
        if not path.is_file():
            raise CheckpointError(f"teacher_path {path} of pair {pair['teacher']}->{pair['student']} does not exist; "
                                  "fix the path or drop teacher_path to train the teacher")
        return path, "given"
    if teacher_dir:
        path = Path(teacher_dir) / f"{pair['teacher']}_vanilla" / REPDISTILLER_FILE
        if path.is_file():
            return path, "teacher_dir"
    return None, "trained"


def obtain_teacher(pair: dict, *, config, train_set: ImageTensorDataset, test_set: ImageTensorDataset,
                   out: Path, device: str, progress: bool = False) -> TeacherInfo:
    """The teacher checkpoint of ``pair``, training it with :func:`dastat.train.fit` when none is given.

    A trained teacher is saved as ``out/teachers/<arch>_vanilla/teacher.pt`` with ``info.json`` beside
    it, and reused on a re-run.
    """
    from dastat import models
    from dastat.train import fit
    from dastat.train.evaluate import evaluate

    arch = pair["teacher"]
    path, origin = _given_path(pair, config.teacher_dir)
    if path is not None:
        teacher = models.load_teacher(path, arch=arch, dataset=train_set, device="cpu")
        metrics = evaluate(teacher, test_set.to("cpu"))
        return TeacherInfo(arch, str(path), origin, metrics["test_loss"], metrics["test_acc1"], None, 0.0)
    folder = out / "teachers" / f"{arch}_vanilla"
    path, info_file = folder / "teacher.pt", folder / "info.json"
    if path.is_file() and info_file.is_file():
        info = TeacherInfo(**json.loads(info_file.read_text()))
        return TeacherInfo(**{**info.to_dict(), "origin": "trained_before", "path": str(path)})
    # The teacher's own seed is fixed apart from the students' seeds (one teacher serves them all).
    result = fit(arch, train_set, test_set, epochs=config.teacher_epochs, lr=config.teacher_lr,
                 batch_size=config.batch_size, seed=0, device=device, out_dir=folder / "fit", resume=True,
                 checkpoint_every=config.checkpoint_every, progress=progress)
    models.save_checkpoint(result.model.cpu(), path, dataset=train_set.name, epochs=config.teacher_epochs,
                           test_loss=result.record["test_loss"], test_acc1=result.record["test_acc1"])
    info = TeacherInfo(arch, str(path), "trained", result.record["test_loss"], result.record["test_acc1"],
                       config.teacher_epochs, result.record["elapsed_s"])
    info_file.write_text(json.dumps(info.to_dict(), indent=2))
    return info


__all__ = ["REPDISTILLER_FILE", "TeacherInfo", "obtain_teacher"]
