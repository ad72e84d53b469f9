"""What a run shows while it trains: the original's evaluation samples (WAVs of validation sentences at
each evaluation, with the recordings) and its TensorBoard scalars and images; every step also goes to the
JSON-lines log."""

from __future__ import annotations

import torch

from filelists.audio import write_wav

from .config import Config
from .infra import Position, RunLog, plot_matrix
from .mel_processing import mel_of_audio


@torch.no_grad()
def evaluate(run, net_g, val_set, log: RunLog, position: Position, device) -> None:
    """The original's samples: the first utterance of each of the first eval_utterances validation batches,
    synthesised (noise scale 1, length scale 1), written with the recording to <run>/eval/<epoch>/."""
    config = run.config
    folder = run.folder / "eval" / str(position.epoch)
    indices = list(range(0, len(val_set), config.train.batch_size))[: config.train.eval_utterances]
    folder.mkdir(parents=True, exist_ok=True)
    net_g.eval()
    for number, index in enumerate(indices):
        item = val_set[index]
        result = net_g.infer(
            item.ids[None].to(device),
            torch.tensor([len(item.ids)], device=device),
            max_len=config.train.eval_max_frames,
        )
        frames = int(result.y_mask.sum())
        audio = result.audio[0, 0, : frames * config.data.hop_length].float().cpu().numpy()
        write_wav(folder / f"{number}.wav", audio, config.data.sampling_rate)
        write_wav(folder / f"{number}_gt.wav", item.audio[0].numpy(), config.data.sampling_rate)
        if number == 0:
            log.audio("gen/audio", audio, config.data.sampling_rate, position.iteration)
            mel = mel_of_audio(result.audio[:, 0].float(), config.data)
            log.image(
                "gen/mel", plot_matrix(mel[0].cpu().numpy(), "frames", "mel channel"), position.iteration
            )
            if position.iteration == 0:
                log.audio("gt/audio", item.audio[0].numpy(), config.data.sampling_rate, 0)
    net_g.train()
    log.record(
        position.iteration, {"epoch": position.epoch, "eval_samples": str(folder), "count": len(indices)}
    )


def log_step(log: RunLog, position: Position, step, optimizer, seconds: float, config: Config) -> None:
    """Every step to the JSON-lines log; every log_interval steps the original's TensorBoard scalars
    (the scaled loss terms) and images. step: training_step.StepResult."""
    terms = ("fm", "mel", "dur", "kl", "kl_fwd", "kl_mas", "gen", "gen_e2e", "disc", "disc_e2e")
    values = {f"loss/g/{name}": step.losses[name] for name in terms[:8] if name in step.losses}
    values.update({f"loss/d/{name}": step.losses[f"loss_{name}"] for name in terms[8:]})
    values.update(
        {
            "loss/g/total": step.losses["loss_g"],
            "loss/d/total": step.losses["loss_d"],
            "learning_rate": optimizer.param_groups[0]["lr"],
            "grad_norm_d": step.applied.d.grad_norm,
            "grad_norm_g": step.applied.g.grad_norm,
        }
    )
    skipped = [name for name, result in zip("GD", step.applied) if not result.applied]
    record = {"epoch": position.epoch, **values, "step_time": seconds}
    log.record(position.iteration, {**record, **({"nonfinite_step_skipped": skipped} if skipped else {})})
    if log.enabled and position.iteration % config.train.log_interval == 0:
        log.scalars(values, position.iteration)
        out = step.out
        images = {
            "slice/mel_org": step.y_mel[0],
            "slice/mel_gen": step.y_hat_mel[0],
            **{f"all/W{q}": out.W[0, q].transpose(0, 1) for q in range(min(4, out.W.size(1)))},
        }
        for tag, matrix in images.items():
            matrix = matrix.detach().float().cpu().numpy()
            log.image(tag, plot_matrix(matrix, "frames", "channel"), position.iteration)
