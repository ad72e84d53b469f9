"""Every knob of Neural-HMM in one dataclass, with the names and defaults of the original
`src/hparams.py` (branch `main`).

Differences from the original `Namespace`:
  * `normaliser` (a `Normalise(mean, std)` object) is stored as two floats, `normaliser_mean` and
    `normaliser_std`; `cmu_phonetiser` and `logger` are not configuration and are dropped.
  * The data-dependent values (`normaliser_*`, `go_token_init_value`, `init_transition_probability`) the
    original reads from `data_parameters.pt` default to that file's LJ Speech values, so a model can be
    built without it; `generate_data_properties.py` computes them for another corpus.

    python -c "from neural_hmm.hparams import HParams; print(HParams())"

`parse_overrides` / `with_overrides` give the command line's `--hparams "name=value,..."` (the original has
no override syntax: you edit `src/hparams.py`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from .infra import UserError

# The repository's `data_parameters.pt` (LJ Speech train set), float32 values written out exactly.
LJSPEECH_DATA_MEAN = -5.520822525024414
LJSPEECH_DATA_STD = 2.065552234649658
LJSPEECH_INIT_TRANSITION_PROB = 0.1580478847026825
LJSPEECH_GO_TOKEN = [
    -0.8870397210121155, -0.6773617267608643, -0.41774317622184753, -0.20509260892868042,
    -0.0758802592754364, 0.07253990322351456, 0.17948059737682343, 0.15036872029304504,
    0.06340580433607101, 0.011523553170263767, 0.04587806016206741, 0.031197618693113327,
    0.01166653260588646, -0.005992821883410215, -0.03003188595175743, -0.10851489007472992,
    -0.15942063927650452, -0.18841561675071716, -0.23496055603027344, -0.29303258657455444,
    -0.3408922553062439, -0.3854539692401886, -0.4790355861186981, -0.5098346471786499,
    -0.5390651226043701, -0.5418674945831299, -0.6033006906509399, -0.6267179250717163,
    -0.6827498078346252, -0.7423366904258728, -0.7982189655303955, -0.8706216812133789,
    -0.9222933053970337, -0.9448473453521729, -0.9955890774726868, -0.9610332250595093,
    -0.9618185758590698, -0.9244068264961243, -0.9000427722930908, -0.8918594121932983,
    -0.8602123856544495, -0.831413209438324, -0.824330747127533, -0.8283395171165466,
    -0.8516159653663635, -0.8806595206260681, -0.9133864641189575, -0.9282283186912537,
    -0.9175742864608765, -0.8949943780899048, -0.8962786197662354, -0.8843940496444702,
    -0.8571524620056152, -0.8190123438835144, -0.8056511282920837, -0.8192278742790222,
    -0.839993417263031, -0.8726528882980347, -0.890928328037262, -0.8751540780067444,
    -0.8733581304550171, -0.8763988018035889, -0.8820661306381226, -0.9379004240036011,
    -1.0174760818481445, -1.0997470617294312, -1.1644761562347412, -1.2032986879348755,
    -1.2279448509216309, -1.2544904947280884, -1.2727086544036865, -1.3108807802200317,
    -1.3813984394073486, -1.4154341220855713, -1.4341647624969482, -1.430702567100525,
    -1.378305435180664, -1.3111217021942139, -1.269985318183899, -1.2861909866333008,
]  # fmt: skip


@dataclass
class HParams:
    # Experiment
    run_name: str = "TestRun"
    gpus: list = field(default_factory=lambda: [0])
    max_epochs: int = 50000
    val_check_interval: int = 100
    save_model_checkpoint: int = 500
    seed: int = 1234
    checkpoint_dir: str = "checkpoints"
    tensorboard_log_dir: str = "tb_logs"
    gradient_accumulation_steps: int = 1
    precision: int = 16
    run_tests: bool = False
    warm_start: bool = False
    checkpoint_path: str | None = None
    ignore_layers: list = field(default_factory=lambda: ["model.embedding.weight"])
    # Data
    batch_size: int = 7
    load_mel_from_disk: bool = False
    training_files: str = "data/filelists/ljs_audio_text_train_filelist.txt"
    validation_files: str = "data/filelists/ljs_audio_text_val_filelist.txt"
    text_cleaners: list = field(default_factory=lambda: ["english_cleaners"])
    phonetise: bool = True
    num_workers: int = 20
    # Audio
    max_wav_value: float = 32768.0
    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mel_channels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: float = 8000.0
    # Data properties (from data_parameters.pt; see generate_data_properties.py)
    normaliser_mean: float = LJSPEECH_DATA_MEAN
    normaliser_std: float = LJSPEECH_DATA_STD
    go_token_init_value: list = field(default_factory=lambda: list(LJSPEECH_GO_TOKEN))
    init_transition_probability: float = LJSPEECH_INIT_TRANSITION_PROB
    init_mean: float = 0.0
    init_std: float = 1.0
    data_mean: float = 0  # unused placeholder in the original (the normaliser holds the real value)
    data_std: float = 0  # unused placeholder in the original
    # Model
    n_symbols: int = 150
    symbols_embedding_dim: int = 512
    # Encoder
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    state_per_phone: int = 2
    # HMM
    n_frames_per_step: int = 1  # the autoregressive order
    train_go: bool = True
    variance_floor: float = 0.01  # floors the std despite its name; the Jan 2022 release used 0.001
    data_dropout: float = 0
    data_dropout_while_eval: bool = True
    data_dropout_while_sampling: bool = False
    predict_means: bool = True
    max_sampling_time: int = 1000
    deterministic_transition: bool = True
    duration_quantile_threshold: float = 0.5
    # Prenet
    prenet_n_layers: int = 2
    prenet_dim: int = 256
    prenet_dropout: float = 0.5
    prenet_dropout_while_eval: bool = True
    # Autoregressive LSTM
    post_prenet_rnn_dim: int = 1024
    # Output net ("decoder" in the original)
    parameternetwork: list = field(default_factory=lambda: [1024])
    # Optimisation
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip_thresh: float = 40000.0
    stochastic_weight_avg: bool = False

    def __post_init__(self):
        # Values loaded from `data_parameters.pt` or a Lightning checkpoint arrive as tensors.
        self.go_token_init_value = [float(v) for v in _as_list(self.go_token_init_value)]
        for name in ("init_transition_probability", "normaliser_mean", "normaliser_std"):
            value = getattr(self, name)
            setattr(self, name, float(_as_list(value)[0]) if _is_sequence_like(value) else float(value))
        if len(self.go_token_init_value) != self.n_mel_channels:
            raise ValueError(
                f"go_token_init_value has {len(self.go_token_init_value)} values, "
                f"expected n_mel_channels = {self.n_mel_channels}"
            )
        if not 0 < self.init_transition_probability < 1:
            raise ValueError(
                f"init_transition_probability must lie in (0, 1), got {self.init_transition_probability}"
            )
        if self.symbols_embedding_dim != self.encoder_embedding_dim:
            raise ValueError(
                "symbols_embedding_dim must equal encoder_embedding_dim "
                f"({self.symbols_embedding_dim} != {self.encoder_embedding_dim})"
            )
        if self.n_frames_per_step < 1:
            raise ValueError(
                f"n_frames_per_step is the AR order and must be >= 1, got {self.n_frames_per_step}"
            )
        if len(self.parameternetwork) < 1:
            raise ValueError("parameternetwork must list at least one hidden layer size")

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only, so a checkpoint holding it loads with `weights_only=True`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], strict: bool = True) -> HParams:
        """Build from `values`; unknown names raise (strict) or are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown and strict:
            raise ValueError(f"unknown Neural-HMM hparams: {unknown}; known names are those of HParams")
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> HParams:
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "go_token_init_value":
                value = f"[{len(value)} floats: {value[0]:.4f}, {value[1]:.4f}, ..., {value[-1]:.4f}]"
            else:
                value = repr(value)
            lines.append(f"    {f.name}={value},")
        return "\n".join(lines + [")"])


def _is_sequence_like(value) -> bool:
    return hasattr(value, "tolist") or isinstance(value, (list, tuple))


def _as_list(value) -> list:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_overrides(text: str) -> dict[str, Any]:
    """'a=1,b=[2, 3],c=word' -> {'a': 1, 'b': [2, 3], 'c': 'word'}: values are Python literals, bare words
    strings; commas inside brackets are kept; a trailing comma is ignored."""
    overrides = {}
    for item in re.split(r",(?=\s*\w+\s*=)", text.strip().rstrip(",")):
        if not item.strip():
            continue
        if "=" not in item:
            raise UserError(f"--hparams: expected name=value, got {item!r}")
        name, value = (part.strip() for part in item.split("=", 1))
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value  # a bare word, e.g. a path or run name
    return overrides


SCALAR_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def with_overrides(base: HParams, overrides: dict[str, Any]) -> HParams:
    """`base` with `overrides` applied; UserError for an unknown name or a value of the wrong type
    (`learning_rate=fast`, `batch_size=(2, 3)`)."""
    values = base.to_dict()
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise UserError(f"--hparams: unknown names {unknown}; the names are HParams' (neural_hmm/hparams.py)")
    # The declared type, not the default's: `data_dropout: float = 0` takes 0.5.
    declared = {f.name: SCALAR_TYPES.get(str(f.type)) for f in dataclasses.fields(HParams)}
    for name, value in overrides.items():
        expected = declared[name]
        if expected is float and type(value) is int:
            value = float(value)
        wrong = not isinstance(value, expected) if expected else False
        if expected and (wrong or (expected is not bool and isinstance(value, bool))):
            raise UserError(
                f"--hparams: {name}={value!r} is a {type(value).__name__}, expected a {expected.__name__}"
            )
        values[name] = value
    if (
        "go_token_init_value" not in overrides
        and len(values["go_token_init_value"]) != values["n_mel_channels"]
    ):
        # Another mel size: the LJ Speech go token no longer fits; the data statistics replace it anyway.
        values["go_token_init_value"] = [0.0] * values["n_mel_channels"]
    try:
        return HParams.from_dict(values)
    except (TypeError, ValueError) as error:
        raise UserError(f"hparams: {error}") from None
