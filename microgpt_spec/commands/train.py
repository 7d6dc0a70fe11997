"""Train microgpt on a file of names, on any backend, and keep the run in a folder.

    microgpt-spec train --backend numpy --steps 1000 --out runs/numpy
    microgpt-spec train --backend pure --data ../shared/data/makemore-names.txt
    microgpt-spec train --resume --out runs/numpy          # continue a stopped run
    microgpt-spec train --backend numpy --n-layer 4 --n-embd 64 --batch-size 32 --holdout 0.1

Without options this is the reference run: the reference model (1 layer, 16 dimensions,
4 heads, 16 positions), data/names.txt, seed 42, Adam (lr 0.01, betas 0.85 / 0.99) with the
learning rate falling linearly to 0 over the 1000 steps, one document per step, then 20
samples at temperature 0.5. On makemore's names.txt the pure backend prints the original
program's numbers exactly (step 1 loss 3.3660, final loss 2.6497, samples kamon, ann, ...).

Bigger models: --n-layer, --n-embd, --n-head, --block-size change the model's shape;
--batch-size B trains each step on B documents (the mean of their losses; B = 1, the
default, is exactly the reference step); --holdout F keeps the last round(F * n) of the n
shuffled documents out of training (the seed fixes the shuffle, so it fixes the split) and
reports, at the end and every --eval-every steps, the mean held-out loss and the mean loss
of as many training documents (each a mean over documents of each one's mean loss).
With the defaults (batch 1, holdout 0) the run is the reference run.

The run folder (--out, default runs/BACKEND) receives
  checkpoint.json  the whole state (see `microgpt_spec.checkpoint`): any backend can
                   sample it or --resume it
  checkpoint.history.csv  the checkpoint's history: each step's loss and seconds
  metrics.csv      per step: step, loss, loss_mean (last 50 steps), lr, seconds, tokens,
                   tokens_per_s
  eval.csv         per evaluation (with --holdout): step, heldout_loss, train_loss, docs
  loss.png         the loss curve, its running mean, and the evaluations

Nothing is lost on the way: training runs in short chunks so a complete state is always
at hand, the checkpoint is saved every --save-every steps and at the end, and Ctrl-C (or
kill) saves the last complete state before exiting. checkpoint.json, eval.csv and
loss.png are written to a temporary name and then renamed; the two per-step files grow by
appending the steps since the last save (a save costs the same at step 20,000 as at step
100), and the checkpoint, written after them, says how many of their lines count.
`--resume` then continues with Adam's state, on the backend that trained the run (another
with --backend, which a notice points out), and gives bit for bit the result of a run
that was never stopped.

Time: a step's seconds (metrics.csv, the speed on each progress line and the final
"training time") run from the end of the step before, so the saves in between count;
held-out evaluations do not. Without a terminal a line is printed for the first step,
every --log-every steps (by default a tenth of the steps) and the last.

Documents longer than block_size - 1 characters do not fit the model's context: by
default they are truncated to the first block_size positions, as the reference does
(a notice gives the count); --long-docs skip leaves them out, --long-docs refuse stops.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from microgpt_spec.artifacts import (
    RUNNING_MEAN_WINDOW,
    GrowingFile,
    eval_csv,
    metrics_header,
    metrics_row,
    plot_losses,
    running_means,
    sigterm_as_interrupt,
)
from microgpt_spec.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointWriter,
    Evaluation,
    checkpoint_file,
    history_file,
    load,
)
from microgpt_spec.cli import EXIT_INTERRUPTED, CommandError
from microgpt_spec.files import write_atomically
from microgpt_spec.progress import SessionClock, format_duration, progress_display
from microgpt_spec.recipe import SHAPE_FIELDS
from microgpt_spec.registry import LoadedBackend, registered_backends
from microgpt_spec.commands._options import add_model_arguments, config_overrides, fraction, non_negative_int, positive_int
from microgpt_spec.runs import (
    LONG_DOCS_POLICIES,
    Diverged,
    Documents,
    Interrupted,
    RunError,
    StepTokens,
    backend_to_record,
    build_tokenizer,
    check_same_chars,
    check_temperature,
    data_path,
    draw_samples,
    encode_all,
    evaluate,
    fresh_state,
    load_backend,
    load_checkpoint,
    prepare_documents,
    split,
    train_in_chunks,
)
from microgpt_spec.spec.contract import Config, num_params

NAME = "train"
HELP = "train microgpt on a names file (any backend) and save checkpoint, metrics and plot"

#: The defaults of the options that a resumed run takes from its checkpoint instead.
DEFAULT_BACKEND = "pure"
DEFAULT_STEPS = 1000
DEFAULT_SEED = 42
DEFAULT_LONG_DOCS = "truncate"

METRICS_FILE = "metrics.csv"
EVAL_FILE = "eval.csv"
PLOT_FILE = "loss.png"


@dataclass
class Corpus:
    """A run's token sequences in shuffled order, split into training and held out."""

    training: list[list[int]]
    heldout: list[list[int]]
    tokens: StepTokens  # each training step's token count, for the throughput figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="BACKEND",
        help=f"registered name, file or module:attribute (default: {DEFAULT_BACKEND}; with --resume, "
        "the backend that trained the run)",
    )
    parser.add_argument("--out", metavar="DIR", help="the run folder (default: runs/BACKEND_NAME)")
    parser.add_argument(
        "--data", metavar="PATH", help="one document per line, UTF-8 (default: the shipped data/names.txt)"
    )
    parser.add_argument(
        "--steps", type=positive_int, metavar="N", help=f"training steps (default: {DEFAULT_STEPS})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help=f"seed of the shuffle and the initial weights (default: {DEFAULT_SEED})",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help="documents per step, their mean loss (default: 1, the reference step)",
    )
    parser.add_argument(
        "--holdout",
        type=fraction,
        metavar="F",
        help="hold out the last round(F * n) of the n shuffled documents and report their loss "
        "(default: 0, train on every document like the reference)",
    )
    parser.add_argument(
        "--eval-every",
        type=positive_int,
        metavar="N",
        help="with --holdout, also evaluate every N steps (default: only at the end)",
    )
    parser.add_argument(
        "--long-docs",
        choices=LONG_DOCS_POLICIES,
        help="what to do with documents longer than block_size - 1 characters "
        f"(default: {DEFAULT_LONG_DOCS}, the reference's behaviour)",
    )
    parser.add_argument(
        "--save-every",
        type=positive_int,
        metavar="N",
        default=100,
        help="save the checkpoint every N steps (default: 100)",
    )
    parser.add_argument(
        "--stop-at",
        type=positive_int,
        metavar="STEP",
        help="stop after this step and save, as if interrupted (--resume continues)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue the run in --out (or in the given run folder / checkpoint file)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument(
        "--samples",
        type=non_negative_int,
        metavar="N",
        default=20,
        help="names to draw at the end (default: 20)",
    )
    parser.add_argument(
        "--temperature", type=float, default=0.5, metavar="T", help="sampling temperature (default: 0.5)"
    )
    parser.add_argument(
        "--log-every",
        type=positive_int,
        metavar="N",
        help="without a terminal, print one line every N steps (default: a tenth of the steps)",
    )


# --------------------------------------------------------------------- the command
def run(args: argparse.Namespace) -> int:
    check_temperature(args.temperature)
    if args.resume:
        out = resume_folder(args)
        state = load_checkpoint(out if args.resume is True else args.resume)
        loaded = backend_for_resume(args.backend, state)
        state, documents = resume_run(args, state, loaded)
    else:
        loaded = load_backend(args.backend or DEFAULT_BACKEND)
        out = Path(args.out) if args.out else Path("runs") / loaded.name
        state, documents = start_run(args, out, loaded)
    if documents.notice:
        print(documents.notice, file=sys.stderr)
    tokenizer = build_tokenizer(loaded.backend, documents.docs)
    check_same_chars(state.chars, tokenizer.chars, f"the data {documents.source.path}")
    if args.resume:
        check_same_data(state, documents)
    if args.eval_every and not state.data.heldout_docs:
        raise CommandError("--eval-every evaluates on held-out documents: give --holdout too (e.g. 0.1)")
    corpus = split_corpus(encode_all(tokenizer, documents.docs), state)
    print_header(loaded, state, documents, out)
    until = stop_step(args, state)
    files = RunFiles(out, corpus)
    try:
        if state.next_step < until:
            state = train_session(args, loaded, state, corpus, files, until)
        elif state.complete:
            print(f"the run in {out} is complete ({state.num_steps} steps): nothing left to train")
        if state.complete and needs_final_evaluation(state):
            state = final_evaluation(loaded, state, corpus)
    except Interrupted as interruption:
        return stopped(interruption.state, files, why="interrupted")
    except Diverged as divergence:
        files.save(divergence.state, plot=True)
        raise
    if not state.complete:
        return stopped(state, files, why="stopped")
    files.save(state, plot=True)
    print_results(args, loaded, state, corpus, out)
    return 0


def split_corpus(sequences: list[list[int]], state: Checkpoint) -> Corpus:
    training, heldout = split(sequences, state.data)
    return Corpus(training, heldout, StepTokens(training, state.config.block_size, state.batch_size))


def resume_folder(args: argparse.Namespace) -> Path:
    """Where a resumed run goes on: --out, else the folder of the checkpoint given to
    --resume, else runs/BACKEND as for a new run."""
    if args.out:
        return Path(args.out)
    if isinstance(args.resume, str):
        return checkpoint_file(args.resume).parent
    return Path("runs") / load_backend(args.backend or DEFAULT_BACKEND).name


def stop_step(args: argparse.Namespace, state: Checkpoint) -> int:
    if args.stop_at is None:
        return state.num_steps
    if not state.next_step < args.stop_at <= state.num_steps:
        raise CommandError(
            f"--stop-at {args.stop_at} must be after the run's next step ({state.next_step + 1}) "
            f"and at most its {state.num_steps} steps"
        )
    return args.stop_at


# --------------------------------------------------------------------- a new run / a resumed run
def start_run(args: argparse.Namespace, out: Path, loaded: LoadedBackend) -> tuple[Checkpoint, Documents]:
    refuse_to_replace(out, args.overwrite)
    block_size = args.block_size or Config().block_size
    seed = DEFAULT_SEED if args.seed is None else args.seed
    documents, rng = prepare_documents(
        data_path(args.data), block_size, args.long_docs or DEFAULT_LONG_DOCS, seed, args.holdout or 0.0
    )
    state = fresh_state(
        loaded, documents, rng, config_overrides(args), args.steps or DEFAULT_STEPS, seed, args.batch_size or 1
    )
    return state, documents


def refuse_to_replace(out: Path, overwrite: bool) -> None:
    """A run that has trained steps is replaced only with --overwrite. One at step 0 (it
    stopped before its first step, say at a part not written yet) holds nothing to lose."""
    existing = checkpoint_file(out)
    if overwrite or not existing.exists():
        return
    try:
        previous = load(existing, with_history=False)
        if previous.next_step == 0:
            return
        what = f"a run at step {previous.next_step} of {previous.num_steps}"
    except CheckpointError:
        what = "a checkpoint"
    raise CommandError(
        f"{out} already holds {what}. Continue it with --resume, replace it with --overwrite, "
        "or choose another --out."
    )


def resume_run(
    args: argparse.Namespace, state: Checkpoint, loaded: LoadedBackend
) -> tuple[Checkpoint, Documents]:
    """The checkpoint to continue (now on `loaded`) and its documents, read again in the
    same order."""
    refuse_conflicts(args, state)
    path = data_path(args.data) if args.data else Path(state.data.path)
    documents, _ = prepare_documents(
        path, state.config.block_size, state.data.long_docs, state.seed, state.data.holdout
    )
    return replace(state, backend=backend_to_record(loaded.spec)), documents


def backend_for_resume(given: str | None, state: Checkpoint) -> LoadedBackend:
    """The backend that trained the run, unless --backend names another (a checkpoint is
    backend-neutral: any faithful backend continues it exactly), which is said aloud."""
    recorded = recorded_backend(state)
    if given is not None:
        if recorded and backend_to_record(given) != recorded:
            print(f"notice: this run was trained on the backend {recorded}; continuing it on {given}, "
                  "as --backend asks", file=sys.stderr)  # fmt: skip
        return load_backend(given)
    if not recorded:
        raise CommandError(
            "this run's checkpoint does not say which backend trained it (an older microgpt-spec "
            "wrote it): give --backend"
        )
    try:
        return load_backend(recorded)
    except RunError as error:
        raise CommandError(
            f"this run was trained on the backend {recorded}, which does not load here ({error}). "
            "Give --backend to continue it on another one: a checkpoint is backend-neutral."
        ) from None


def recorded_backend(state: Checkpoint) -> str:
    """The checkpoint's backend; for one written before checkpoints recorded it, the
    registered name in its written_by ("microgpt-spec, backend numpy 1.0"), if any."""
    if state.backend:
        return state.backend
    named = re.search(r"backend (\S+) ", state.written_by)
    return named[1] if named and named[1] in registered_backends() else ""


def check_same_data(state: Checkpoint, documents: Documents) -> None:
    if documents.source.sha256 != state.data.sha256:
        raise CommandError(
            f"the data {documents.source.path} is not the file this run trained on (its sha256 differs "
            f"from the checkpoint's, recorded from {state.data.path}); resuming on other documents "
            "would not continue the run. Give --data the original file."
        )
    if documents.source.heldout_docs != state.data.heldout_docs:  # same file: only a bug gets here
        raise CommandError(
            f"the checkpoint holds out {state.data.heldout_docs} documents, the data now "
            f"{documents.source.heldout_docs}"
        )


def refuse_conflicts(args: argparse.Namespace, state: Checkpoint) -> None:
    """A resumed run takes its settings from the checkpoint; a different one is an error."""
    recorded = {
        "steps": state.num_steps,
        "seed": state.seed,
        "long_docs": state.data.long_docs,
        "batch_size": state.batch_size,
        "holdout": state.data.holdout,
        **{name: getattr(state.config, name) for name in SHAPE_FIELDS},
    }
    for name, value in recorded.items():
        given = getattr(args, name)
        if given is not None and given != value:
            option = "--" + name.replace("_", "-")
            raise CommandError(
                f"the checkpoint's run has {option.lstrip('-')} {value}; {option} {given} does not match it "
                f"(a resumed run keeps its settings: leave {option} out)"
            )


# --------------------------------------------------------------------- training
def train_session(
    args, loaded: LoadedBackend, state: Checkpoint, corpus: Corpus, files: "RunFiles", until: int
) -> Checkpoint:
    """Train from state.next_step to `until` with a progress display, saving as we go
    (and evaluating every --eval-every steps when documents are held out). The session's
    clock starts before the first save: every save counts in the steps' times."""
    clock = SessionClock()
    files.save(state, plot=False)  # the run exists (and is resumable) from the start
    evaluating = bool(corpus.heldout) and args.eval_every is not None
    display = progress_display(state.num_steps, state.losses, every=args.log_every, clock=clock, until=until)
    with sigterm_as_interrupt(), display as progress:

        def evaluate_and_note(current: Checkpoint) -> Checkpoint:
            current = current.evaluated(evaluate(loaded.backend, current, corpus.training, corpus.heldout))
            progress.note(describe_evaluation(current.evals[-1], corpus, current))
            return current

        return train_in_chunks(
            loaded.backend,
            state,
            corpus.training,
            until=until,
            save_every=args.save_every,
            on_step=progress.update,
            on_save=lambda s: files.save(s, plot=False),
            eval_every=args.eval_every if evaluating else None,
            on_eval=evaluate_and_note if evaluating else None,
            clock=clock,
        )


# --------------------------------------------------------------------- held-out evaluation
def needs_final_evaluation(state: Checkpoint) -> bool:
    last = state.last_evaluation
    return state.data.heldout_docs > 0 and (last is None or last.step != state.next_step)


def final_evaluation(loaded: LoadedBackend, state: Checkpoint, corpus: Corpus) -> Checkpoint:
    """The last state with its evaluation (Ctrl-C meanwhile: `Interrupted`, nothing lost)."""
    try:
        with sigterm_as_interrupt():
            evaluation = evaluate(loaded.backend, state, corpus.training, corpus.heldout)
    except KeyboardInterrupt:
        raise Interrupted(state) from None
    state = state.evaluated(evaluation)
    print(describe_evaluation(evaluation, corpus, state))
    return state


def describe_evaluation(evaluation: Evaluation, corpus: Corpus, state: Checkpoint) -> str:
    return (
        f"eval at step {evaluation.step}: held-out loss {evaluation.heldout_loss:.4f} "
        f"({evaluation.docs} docs) | train loss {evaluation.train_loss:.4f} "
        f"({min(evaluation.docs, len(corpus.training))} docs) | "
        f"{corpus.tokens.per_second(state.step_seconds):,.0f} tokens/s"
    )


# --------------------------------------------------------------------- files
class RunFiles:
    """The files of the run in `out`, saved again and again as it grows. A save costs
    the steps since the last one, not the whole history: the checkpoint's history and
    metrics.csv grow by appending (see `artifacts.GrowingFile`)."""

    def __init__(self, out: Path, corpus: Corpus) -> None:
        self.out, self.corpus = out, corpus
        self.checkpoint = CheckpointWriter(out)
        self.metrics = GrowingFile(out / METRICS_FILE, metrics_header(throughput=True))

    def save(self, state: Checkpoint, *, plot: bool) -> None:
        """The checkpoint first (it is the truth), then the metrics made from it, then the plot."""
        self.checkpoint.save(state)
        tokens = self.corpus.tokens.first(state.next_step)
        self.metrics.sync(
            lambda s: metrics_row(s, state.losses, state.step_seconds, state.hyper.lr, state.num_steps, tokens),
            state.next_step,
        )
        if state.data.heldout_docs:
            write_atomically(self.out / EVAL_FILE, eval_csv(state.evals))
        if plot and state.losses:
            self.plot(state)

    def plot(self, state: Checkpoint) -> None:
        title = f"microgpt, {Path(state.data.path).name}: step {state.next_step} of {state.num_steps}"
        points = {
            "held-out loss (eval)": [(e.step, e.heldout_loss) for e in state.evals],
            "train loss (eval)": [(e.step, e.train_loss) for e in state.evals],
        }
        plot_losses({"train": state.losses}, self.out / PLOT_FILE, title, points)


def stopped(state: Checkpoint, files: RunFiles, *, why: str) -> int:
    files.save(state, plot=True)
    print(
        f"{why} at step {state.next_step} of {state.num_steps}: saved {files.checkpoint.file}; "
        f"continue with: microgpt-spec train --resume --out {files.out}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED if why == "interrupted" else 0


# --------------------------------------------------------------------- printing
def print_header(loaded: LoadedBackend, state: Checkpoint, documents: Documents, out: Path) -> None:
    c = state.config
    print(f"num docs: {len(documents.docs)} | vocab size: {c.vocab_size} | num params: {num_params(c)}")
    batch = f"; batch {state.batch_size}" if state.batch_size > 1 else ""
    print(
        f"{loaded.describe()}\n"
        f"model: n_layer {c.n_layer}, n_embd {c.n_embd}, n_head {c.n_head}, block_size {c.block_size}; "
        f"seed {state.seed}; {state.num_steps} steps{batch}; run folder {out}"
    )
    data = state.data
    if data.heldout_docs:
        print(
            f"holdout {data.holdout:g}: the last {data.heldout_docs} of the {data.num_docs} shuffled "
            f"documents are held out; training on the first {data.training_docs}"
        )
    if state.next_step:
        print(f"resuming at step {state.next_step + 1} of {state.num_steps}")
    sys.stdout.flush()


def print_results(
    args: argparse.Namespace, loaded: LoadedBackend, state: Checkpoint, corpus: Corpus, out: Path
) -> None:
    window = min(RUNNING_MEAN_WINDOW, len(state.losses))
    print(
        f"final loss {state.losses[-1]:.4f} (mean of the last {window} steps {running_means(state.losses)[-1]:.4f})"
    )
    if state.last_evaluation is not None:
        last = state.last_evaluation
        print(f"held-out loss {last.heldout_loss:.4f} | train loss {last.train_loss:.4f} (step {last.step})")
    seconds = sum(state.step_seconds)
    print(
        f"training time {format_duration(seconds)} for {state.num_steps} steps: "
        f"{state.num_steps / max(seconds, 1e-12):.1f} steps/s, "
        f"{corpus.tokens.per_second(state.step_seconds):,.0f} tokens/s"
    )
    if args.samples:
        print(f"--- {args.samples} samples (temperature {args.temperature}) ---")
        names = draw_samples(loaded.backend, state, args.samples, args.temperature, state.rng())
        width = len(str(args.samples))
        for i, name in enumerate(names, start=1):
            print(f"sample {i:{width}d}: {name}")
    written = (checkpoint_file(out).name, history_file(out).name, METRICS_FILE) + (
        (EVAL_FILE,) if state.data.heldout_docs else ()
    )
    files = ", ".join(str(out / name) for name in written + (PLOT_FILE,))
    print(f"wrote {files}")
