"""Time one CLIPasso optimisation step: vecrender's against a reference-style step.

Both use the real CLIP RN101 architecture with random weights (no download), the same native
renderer, the same 224 px canvas and 16 strokes per sketch, and Adam on the points.

* ours: S sketches in one step: one render call, the ``clipasso.geometric`` and
  ``clipasso.semantic`` components sharing one augmented batch and one frozen RN101 forward
  (clean target features cached), fp16 autocast on CUDA;
* reference-style (what the CLIPasso code does): one sketch per pass, an RN101 whose weights still
  require gradients, four torchvision ``Compose(RandomPerspective, RandomResizedCrop, Normalize)``
  calls on each (sketch, target) pair, the target's features recomputed every step (sketch and
  target batches as two forwards), fp16 weights on CUDA as the reference's ``clip.load`` does.

    python benchmarks/clipasso_step.py                    # CPU, 1 and 9 sketches
    python benchmarks/clipasso_step.py --device cuda --repeats 5

Prints the median seconds per step (steps of both interleaved) and per sketch, and ours / reference.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from vecrender.components import LossInput, ModelCache, RunContext
from vecrender.models.clip import clip_key, load_clip, resnet_features
from vecrender.scene import VectorScene

SIZE = 224
STROKES = 16


def make_scenes(num: int, device: torch.device) -> list[VectorScene]:
    g = torch.Generator().manual_seed(0)
    scenes = []
    for _ in range(num):
        start = torch.rand(STROKES, 1, 2, generator=g) * SIZE
        points = start + torch.cumsum((torch.rand(STROKES, 4, 2, generator=g) - 0.5) * 11, dim=1)
        scenes.append(VectorScene(points=points, widths=torch.full((STROKES,), 3.0),
                                  stroke_colors=torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(STROKES, 4).clone(),
                                  width=SIZE, height=SIZE).to(device))
    return scenes


def make_target(device: torch.device) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing="ij")
    disc = ((x ** 2 + y ** 2) < 0.4).float()
    return (0.9 - 0.7 * disc).expand(1, 3, SIZE, SIZE).contiguous().to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def renderer_for(context: RunContext):
    from vecrender.plugins import get_registry

    return get_registry().build("renderer", {"use": "native"}, context, "renderer")


def composite(rgba: torch.Tensor) -> torch.Tensor:
    return rgba[:, :3] + (1 - rgba[:, 3:4])


# -- ours -----------------------------------------------------------------------------------------
class Ours:
    def __init__(self, num: int, device: torch.device, model: str) -> None:
        from vecrender_clipasso.losses import Geometric, Semantic

        self.context = RunContext(device=device, width=SIZE, height=SIZE, models=ModelCache())
        # the benchmark's random-weight RN101 stands in for the OpenAI weights
        self.context.models.get(clip_key(model, "openai", None, device),
                                lambda: load_clip(model, pretrained=None, device=device))
        opts = {"model": model}
        self.losses = [(1.0, Geometric.from_dict(opts, self.context)), (0.1, Semantic.from_dict(opts, self.context))]
        self.target = make_target(device)
        for _, loss in self.losses:
            loss.prepare(self.target)
        self.renderer = renderer_for(self.context)
        self.scenes = make_scenes(num, device)
        self.opt = torch.optim.Adam([s.points.requires_grad_(True) for s in self.scenes], lr=1.0)
        self.step_no = 0

    def warmup(self) -> None:
        self.step()

    def step(self) -> None:
        self.opt.zero_grad()
        rgba = self.renderer.render(self.scenes)
        batch = LossInput(composite(rgba), rgba, self.scenes, self.target, self.step_no, True)
        total = 0
        for weight, loss in self.losses:
            out = loss(batch)
            total = total + weight * (sum(out.values()) if isinstance(out, dict) else out)
        total.sum().backward()
        self.opt.step()
        self.step_no += 1


# -- reference style ------------------------------------------------------------------------------
class Reference:
    def __init__(self, num: int, device: torch.device, model: str) -> None:
        import torchvision.transforms as T

        clip = copy.deepcopy(load_clip(model, pretrained=None, device="cpu"))
        clip.requires_grad_(True)  # the reference never freezes CLIP
        if device.type == "cuda":
            clip = clip.half()  # the reference's clip.load keeps fp16 weights on GPU
        self.visual = clip.visual.to(device)
        self.dtype = next(self.visual.parameters()).dtype
        self.context = RunContext(device=device, width=SIZE, height=SIZE, models=ModelCache())
        self.renderer = renderer_for(self.context)
        self.target = make_target(device)
        self.scenes = make_scenes(num, device)
        self.opts = [torch.optim.Adam([s.points.requires_grad_(True)], lr=1.0) for s in self.scenes]
        mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
        self.normalize = T.Normalize(mean, std)
        self.augment = T.Compose([T.RandomPerspective(fill=0, p=1.0, distortion_scale=0.5),
                                  T.RandomResizedCrop(SIZE, scale=(0.8, 0.8), ratio=(1.0, 1.0)),
                                  T.Normalize(mean, std)])

    def features(self, x: torch.Tensor):
        return resnet_features(self.visual, x.to(self.dtype))

    def warmup(self) -> None:
        self.step(limit=1)  # every pass has the same shapes: one pass warms them all

    def step(self, limit: int | None = None) -> None:
        for scene, opt in list(zip(self.scenes, self.opts))[:limit]:  # one sketch per pass
            opt.zero_grad()
            sketch = composite(self.renderer.render([scene]))
            xs, ys = [self.normalize(sketch)], [self.normalize(self.target)]
            for _ in range(4):
                pair = self.augment(torch.cat([sketch, self.target]))
                xs.append(pair[0:1])
                ys.append(pair[1:2])
            fx, ex = self.features(torch.cat(xs))
            fy, ey = self.features(torch.cat(ys).detach())
            loss = sum(F.mse_loss(fx[i].float(), fy[i].float()) for i in (2, 3))
            loss = loss + 0.1 * (1 - F.cosine_similarity(ex.float(), ey.float())).mean()
            loss.backward()
            opt.step()


def timed_pair(ours, ref, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median seconds per step of each, their steps interleaved so that load changes hit both."""
    ours.warmup()
    ref.warmup()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for runner, out in ((ours, times[0]), (ref, times[1])):
            sync(device)
            t0 = time.perf_counter()
            runner.step()
            sync(device)
            out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sketches", type=int, nargs="+", default=[1, 9])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps of each (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--model", default="RN101", help="open_clip ResNet architecture (random weights)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; {args.model} random weights; {SIZE}px, {STROKES} strokes")
    print(f"{'sketches':>8} {'ours s/step':>12} {'ref s/step':>11} "
          f"{'ours s/sketch':>14} {'ref s/sketch':>13} {'ratio':>6}")
    for num in args.sketches:
        ours, ref = timed_pair(Ours(num, device, args.model), Reference(num, device, args.model),
                               args.repeats, device)
        print(f"{num:>8} {ours:>12.3f} {ref:>11.3f} {ours / num:>14.3f} {ref / num:>13.3f} {ours / ref:>6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
