"""The Classifier and load_teacher on CUDA (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from dastat.models import create, load_teacher, save_checkpoint, wrap


@pytest.mark.gpu
def test_classifier_normalises_on_the_gpu_and_matches_cpu(tmp_path):
    torch.manual_seed(0)
    model = wrap(create("resnet8", num_classes=10), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)).eval()
    path = save_checkpoint(model, tmp_path / "t.pt")
    gpu = load_teacher(path, device="cuda")
    assert next(gpu.parameters()).is_cuda and gpu.normalize.mean_.is_cuda
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    # TF32 off: cuDNN convolutions otherwise round inputs to 10-bit mantissas (~1e-3 relative).
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        got = gpu(x.cuda()).cpu()
        want = model(x)
    # float32 on two back-ends differs only in summation order: ~1e-6 of max|logits| (the compat
    # fixture saw up to 7e-7 between float32 and float64); 1e-4 leaves room without hiding real bugs.
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


@pytest.mark.gpu
def test_the_probes_inference_copy_on_the_gpu_matches_the_teacher():
    from dastat.models.inference import inference_copy

    torch.manual_seed(0)
    teacher = wrap(create("wrn_16_2", num_classes=10), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)).cuda().eval()
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)).cuda()
    fast = inference_copy(teacher, x)
    assert fast is not teacher and next(fast.parameters()).is_cuda
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        got, want = fast(x), teacher(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4 * want.abs().max().item())  # float32 rounding only
