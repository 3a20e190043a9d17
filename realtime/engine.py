"""The engine: `Engine.process(n) -> float32 block`, the only synthesis path.

Control frames sit on a fixed grid of the model's frame rate, independent of block boundaries:
when playback reaches segment t (output samples from frame t to frame t + 1), frame t + 1 is
computed (one graph call for the voices that sound) and its filtered noise overlap-added; each
`process` block then synthesizes only its own samples of the segment, interpolating the controls
of frames t and t + 1, so the harmonic bank's cost spreads over the blocks (a model with a reverb
synthesizes the segment whole, for the reverb's partition). Noise is drawn per frame from a
counter-based generator, and a sample's value depends only on its place in the segment. So the
output is identical whatever the block size. A block in steady state allocates nothing: the
graph's inputs and outputs, the controls, the noise and the mix live in buffers made once
(tests/realtime/test_allocation.py).

Parameters are read once per control frame (when frame t + 1 is computed at the start of segment
t): a change is heard one control frame later, which is the engine's own latency for them. Notes,
pitch, bend, velocity and gain are heard from the next block instead: applied within a segment,
they re-aim it (`_reaim`: frame t + 1 is computed again from the state saved before it was
stepped, and the rest of the segment glides from where each voice is to the new frame; pitch and
bend alone re-aim only the pitch, without a graph call). See `latency_samples_of`.

Voices (`voices`, realtime.voice): each has its own decoder and NCA state, phase, envelope,
pitch, velocity, NCA clock and random streams (keyed by its slot); the engine owns the frame
clock, the shared parameters (loudness, bend, gain, noise, blend, rate, gate), the mix and the
reverb. With one voice the engine is monophonic legato: a note played while another sounds moves
the pitch there (smoothed) and retriggers the envelope from where it is, and `pitch_hz` and
`velocity` are read from the parameters. With several, a note goes to the voice already playing
that note number, else to a free voice (the lowest free slot), else it steals the oldest released
voice, else the oldest: the stolen voice fades to zero over one control frame (the synth's linear
ramp, no click) and the new note starts at the next frame. A note-off releases the voices playing
that number (all of them without a number); `pitch_hz` and `velocity` set the newest voice. Only
voices that sound (or fade) are computed; the others cost nothing and keep their state.

Growth (`set_growth`): "off" plays the full learned timbre (the NCA neither steps nor masks),
"free" lets each voice's NCA grow at `nca_rate` while it sounds (its clock stops in silence),
"per-note" also reseeds it at every note that starts after silence, so each note unfolds from
its fundamental, and "shared" grows one mask that every voice plays through, its clock running
while any voice sounds (with one voice, the same as "free"). Steps asked for with `nca_step` are
taken in any mode but "off" (by the voices that sound, in silence by every voice, at once; with
"shared", by the shared mask).

A silence gate (realtime.gate, threshold `gate_db`) on the loudness control fades the voices to
exact zero where the input or the control stream is silent.

Controls are typed commands (realtime.commands) and arrive two ways: `apply(command)` carries one
out now (offline renders, between `process` calls), `post(command)` queues it from another thread
(OSC, MIDI) and the engine applies it at the start of its next block (or of the next control
frame, when the block begins one). Every command applied from the queue can be recorded with the
sample position it took effect at; replaying the record with `apply` at those positions
reproduces the output exactly.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from core.errors import GrowError, ParameterError
from export.contract import ArtifactMetadata
from realtime.commands import (
    Command,
    MorphTimbre,
    NcaPerturb,
    NcaReset,
    NcaStep,
    NoteOff,
    NoteOn,
    SelectTimbre,
    SetGrowth,
    SetMask,
    SetParam,
    TexturePerturb,
    TextureReset,
)
from realtime.gate import LoudnessGate
from realtime.model import LoadedModel
from realtime.params import ParameterStore, Smoother
from realtime.philox import uniform, uniform_rows
from realtime.reverb import PartitionedReverb, resample_ir
from realtime.step_runner import StepRunner, Wanted
from realtime.synth import SEED_RANGE, NoiseFilter, OscillatorBank, frame_noise, frame_position
from realtime.texture import TextureGrid
from realtime.voice import MAX_VOICES, FrameControls, Voice

SUPPORTED_RATES = (22050, 24000, 32000, 44100, 48000, 88200, 96000)
# Controls heard from the next block (the segment being played is re-aimed at the new frame); the
# others from the next control frame. Pitch and bend re-aim only the pitch (no graph call).
BLOCK_PARAMS = frozenset({"pitch_hz", "bend_semitones", "velocity", "gain_db"})
PITCH_PARAMS = frozenset({"pitch_hz", "bend_semitones"})
BLOCK_COMMANDS = frozenset({"note_on", "note_off", "newest_voice"})  # queued kinds a re-aim runs
MAX_POSTED_PER_FRAME = 256  # posted controls applied at once (at a frame, or a block within one)
INBOX_CAPACITY = 4096  # posted controls waiting; more are refused (counted by the poster)


class Engine:
    """A loaded model played by `voices` voices at `sample_rate` (the output device's rate)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        sample_rate: int = 48000,
        seed: int = 0,
        trace: bool = False,
        growth: str = "free",
        timbre: np.ndarray | None = None,
        voices: int = 1,
        texture_thread: bool = False,
    ) -> None:
        """timbre: z [Z] to start from (default: the first preset). voices: 1 (monophonic
        legato) to MAX_VOICES. texture_thread: step a model's texture NCA on a worker thread
        (live; `start_workers`), else at once (renders: the same samples, realtime.texture)."""
        meta = model.meta
        if sample_rate not in SUPPORTED_RATES:
            raise ParameterError(
                f"sample_rate={sample_rate} must be one of {', '.join(map(str, SUPPORTED_RATES))}"
            )
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise ParameterError(f"seed={seed} must be in {SEED_RANGE[0]}..{SEED_RANGE[1]}")
        if isinstance(voices, bool) or not isinstance(voices, int) or not 1 <= voices <= MAX_VOICES:
            raise ParameterError(f"voices={voices!r} must be a whole number in 1..{MAX_VOICES}")
        self.model = model
        self.meta: ArtifactMetadata = meta
        self.sample_rate = sample_rate
        self.seed = seed
        self.frame_rate = meta.frame_rate
        self.params = ParameterStore()
        self.smoother = Smoother(self.params, frame_rate=self.frame_rate)
        self.commands: deque[tuple[str, Any]] = deque()  # what the next control frame does
        self.inbox: deque[Command] = deque()  # posted by other threads
        self.recorder: deque[tuple[int, Command]] | None = None  # (position, command)
        self.rejected = 0  # posted controls that failed when applied
        # Effect mode (realtime.effect) owns the notes and these parameters: posted ones are
        # ignored (counted), so a controller's note or pitch never overrides the input's.
        self.input_owned: frozenset[str] = frozenset()
        self.ignored = 0
        self.growth = "free"
        self.set_growth(growth)
        self.gate = LoudnessGate(frame_rate=self.frame_rate)
        self.note = 69.0  # the sounding (or last) note
        self.presets = {name: np.asarray([z], np.float32) for name, z in meta.presets.items()}
        self.preset_names = list(self.presets)
        # What the status line shows as the timbre: a preset, a morph, or the input's own z.
        self.timbre_name = self.preset_names[0] if timbre is None else "input"
        if timbre is not None and np.shape(timbre) != (meta.z_dim,):
            raise ParameterError(f"timbre has shape {np.shape(timbre)}, expected ({meta.z_dim},)")
        start_z = (
            self.presets[self.preset_names[0]]
            if timbre is None
            else np.asarray([timbre], np.float32)
        )
        self.voices = [Voice.fresh(meta, start_z, slot=slot) for slot in range(voices)]
        self.shared = Voice.fresh(meta, start_z)  # growth "shared": its NCA state, clock, steps
        self.polyphonic = voices > 1
        self.notes_started = 0  # note-ons so far: a voice's age for the allocator
        self.frame = 0  # the control frame at the start of the segment being played
        self.noise_delay = round((meta.n_noise_bands - 1) * sample_rate / meta.sample_rate)
        hop_max = self.hop_max()
        self._noise_filter = NoiseFilter(
            meta.n_noise_bands,
            out_rate=sample_rate,
            train_rate=meta.sample_rate,
            max_samples=hop_max,
        )
        self._bank = OscillatorBank(hop_max, sample_rate=sample_rate)
        self._runner = StepRunner(model, voices)
        self.texture = (
            TextureGrid(meta, seed=seed, max_voices=voices, threaded=texture_thread)
            if meta.texture
            else None
        )
        self._texture_mags = np.zeros((voices, meta.n_noise_bands))
        self.reverb = self._make_reverb()  # on the mix: linear, so one room serves every voice
        # The segment being played: its length, how much of it is played, the voices in it.
        self._segment_length = 0
        self._read = 0
        self._segment_voices: list[Voice] = []
        self.position = 0  # output samples produced so far
        self.trace: list[FrameControls] | None = [] if trace else None  # every frame's controls
        # The voices' filtered noise, overlap-added (linear: one buffer serves every voice);
        # sample 0 = the segment's first. Two buffers, so that moving on by a segment copies
        # from one into the other instead of within one.
        size = 2 * hop_max + 2 * self.noise_delay + 2
        self.noise_acc, self._noise_spare = np.zeros(size), np.zeros(size)
        # Working memory of a block and of a frame, so that steady-state blocks allocate nothing.
        self._mix = np.zeros(hop_max)  # float64: the voices and the noise summed
        self._levels = [0.0] * voices  # each computed voice's level this frame
        self._z_step = np.zeros((1, meta.z_dim), np.float32)
        self._draws = np.zeros(meta.n_harmonics)  # a perturbation's uniform draws
        # A frame's rows, one per computed voice: fire draws, amplitudes, noise gains.
        self._slots = np.zeros(voices, np.int64)
        self._fire_draws = np.zeros((voices, meta.n_harmonics))
        self._fired = np.zeros((voices, meta.n_harmonics), bool)
        self._amps_batch = np.zeros((voices, meta.n_harmonics), np.float32)
        self._blend_batch = np.zeros((voices, meta.n_harmonics), np.float32)
        self._mags_batch = np.zeros((voices, meta.n_noise_bands))
        self._gains = np.zeros((voices, 1))
        self._gains32 = np.zeros((voices, 1), np.float32)
        self._reverb_segment = np.zeros(hop_max, np.float32)
        self._smoothed_before = self.smoother.state.copy()
        self._gate = 1.0  # the gate's gain for the frame being played towards
        self._block_change = False  # a note, velocity or gain to be heard from the next block
        self._pitch_change = False  # a pitch or bend to be heard from the next block
        self._reaimed = False  # the segment was re-aimed (once per segment)
        self._amps_step = np.zeros(meta.n_harmonics, np.float32)
        self._mags_change = np.zeros(meta.n_noise_bands)
        self._noise_voices: list[Voice] = []  # whose noise of `_noise_frame` is to be filtered
        self._noise_done, self._noise_frame, self._noise_offset = 0, 0, 0
        self._started = False  # frame 0 is computed by start() or the first process()
        # Compile (or load from numba's cache) the compiled loops now, not in the first callback.
        self._bank.render(
            100.0,
            100.0,
            np.zeros(1, np.float32),
            np.zeros(1, np.float32),
            length=1,
            start=0,
            phase=0.0,
            out=self._mix[:1],
            add=True,
        )
        self._noise_filter.white(1)[:] = 0.0
        self._noise_filter.add_filtered(1, np.zeros(meta.n_noise_bands), self._noise_spare, 0)
        uniform(0, 0, 0, self._draws[:1])
        uniform_rows(0, 0, self._slots[:1], self._fire_draws[:1])
        frame_noise(0, 0, 1, out=self._reverb_segment[:1])

    def start(self) -> None:
        """Compute control frame 0 from the controls applied so far (the first `process` does
        it otherwise). Frame 1 is read at the start of the first segment, so controls applied
        after this and before the first `process` belong to frame 1."""
        if self._started:
            return
        self._started = True
        computed = self._compute_frame(0, every_voice=True)
        self._queue_noise(computed, frame=0, offset=-self.noise_delay)
        self._filter_noise()
        for voice in computed:
            voice.advance()

    @property
    def voice(self) -> Voice:
        """The voice of the newest note (the one voice when monophonic): what the status shows."""
        return max(self.voices, key=lambda voice: voice.started)

    def sounding(self) -> int:
        """Voices whose envelope is open (attack to release)."""
        return sum(voice.sounding for voice in self.voices)

    # -- geometry --------------------------------------------------------------------------------
    def position_of(self, frame: int) -> int:
        return frame_position(
            frame, out_rate=self.sample_rate, train_rate=self.meta.sample_rate, hop=self.meta.hop
        )

    def hop_max(self) -> int:
        return -(-self.meta.hop * self.sample_rate // self.meta.sample_rate)

    def samples_until_frame(self) -> int:
        """Output samples until the engine next reads its controls: 0 when the next `process`
        begins a segment, computing control frame `frame + 1` from the controls applied by
        then (effect mode applies each tracked frame there)."""
        return self._segment_length - self._read

    def next_segment_length(self) -> int:
        """Samples in the segment that the next read of the controls begins."""
        return self.position_of(self.frame + 1) - self.position_of(self.frame)

    def _make_reverb(self) -> PartitionedReverb | None:
        meta, rate = self.meta, self.sample_rate
        if not meta.reverb_ir:
            return None
        if (meta.hop * rate) % meta.sample_rate:
            raise ParameterError(
                f"this model's reverb needs an output rate at which a control frame is a whole "
                f"number of samples ({meta.hop} x rate / {meta.sample_rate}); {rate} Hz is not"
            )
        ir = resample_ir(np.asarray(meta.reverb_ir), from_rate=meta.sample_rate, to_rate=rate)
        return PartitionedReverb(ir, partition=self.hop_max())

    @property
    def latency_samples(self) -> int:
        """Control-to-sound latency of the engine itself for the controls read per frame (the
        timbre, loudness, noise, blend, NCA): one control frame (the lookahead that the
        per-sample interpolation and the linear-phase noise filter need). The worst case."""
        return self.hop_max()

    def latency_samples_of(self, command: Command) -> int:
        """Samples from the block a control is applied at to the first sample it changes,
        beyond the sample the change starts from: notes, pitch, bend, velocity and gain are
        heard from the next block (0; a model with a reverb, one frame), the rest from the next
        control frame (`latency_samples`). Pitch and bend act at every block; a second note,
        velocity or gain within one control frame waits for the frame."""
        block_level = isinstance(command, (NoteOn, NoteOff)) or (
            isinstance(command, SetParam) and command.name in BLOCK_PARAMS
        )
        return self.note_latency_samples if block_level else self.latency_samples

    @property
    def note_latency_samples(self) -> int:
        """`latency_samples_of` a note, pitch, bend, velocity or gain control."""
        return 0 if self.reverb is None else self.latency_samples

    # -- controls ----------------------------------------------------------------------------------
    def apply(self, command: Command) -> None:
        """Carry out one control now. The command was checked when it was made; what depends on
        the model (a timbre's name) is checked here. ParameterError names what is wrong."""
        if isinstance(command, SetParam) and command.name in PITCH_PARAMS:
            self._pitch_change = True
        elif isinstance(command, (NoteOn, NoteOff)) or (
            isinstance(command, SetParam) and command.name in BLOCK_PARAMS
        ):
            self._block_change = True
        match command:
            case SetParam(name=name, value=value):
                stored = self.params.set(name, value)
                if self.polyphonic and name in ("pitch_hz", "velocity"):
                    self.commands.append(("newest_voice", (name, stored)))
            case NoteOn(note=note, velocity=velocity):
                hz = self.params.set("pitch_hz", 440.0 * 2 ** ((note - 69.0) / 12.0))
                self.params.set("velocity", velocity)
                self.note = float(note)
                self.commands.append(("note_on", (float(note), hz, float(velocity))))
            case NoteOff(note=note):
                self.commands.append(("note_off", None if note is None else float(note)))
            case SelectTimbre(name=name):
                self.select_timbre(name)
            case MorphTimbre(a=a, b=b, x=x):
                for preset in (a, b):
                    self._check_preset(preset)
                self.timbre_name = f"{a}>{b} {x:.2f}"
                self.commands.append(("timbre", (1 - x) * self.presets[a] + x * self.presets[b]))
            case NcaReset():
                self.commands.append(("nca_reset", None))
            case NcaStep(n=n):
                self.commands.append(("nca_step", int(n)))
            case NcaPerturb(fraction=fraction):
                self.commands.append(("nca_perturb", float(fraction)))
            case TextureReset():
                self._check_texture()
                self.commands.append(("texture_reset", None))
            case TexturePerturb(start=start, end=end, low=low, high=high):
                self._check_texture()
                self.commands.append(("texture_perturb", (start, end, int(low), int(high))))
            case SetMask(mask=mask):
                if len(mask) != self.meta.n_harmonics:
                    raise ParameterError(
                        f"a mask of {len(mask)} values for a model of "
                        f"{self.meta.n_harmonics} harmonics"
                    )
                self.commands.append(("set_mask", np.asarray(mask, np.float32)))
            case SetGrowth(mode=mode):
                self.growth = mode
            case _:
                raise ParameterError(f"{command!r} is not an engine command")

    def post(self, command: Command) -> bool:
        """Queue a control from another thread (never blocks); False when the inbox is full."""
        if len(self.inbox) >= INBOX_CAPACITY:
            return False
        self.inbox.append(command)
        return True

    def _drain_inbox(self, position: int) -> None:
        """Apply posted controls (at most MAX_POSTED_PER_FRAME), recorded at output sample
        `position`: where they took effect."""
        for _ in range(min(len(self.inbox), MAX_POSTED_PER_FRAME)):
            command = self.inbox.popleft()
            if self._owned_by_input(command):
                self.ignored += 1
                continue
            try:
                self.apply(command)
            except GrowError:
                self.rejected += 1
                continue
            if self.recorder is not None:
                self.recorder.append((position, command))

    def _owned_by_input(self, command: Command) -> bool:
        if not self.input_owned:
            return False
        if isinstance(command, (NoteOn, NoteOff)):
            return "notes" in self.input_owned
        return isinstance(command, SetParam) and command.name in self.input_owned

    def _check_preset(self, name: str) -> None:
        if name not in self.presets:
            raise ParameterError(f"unknown timbre {name!r}; presets: {', '.join(self.presets)}")

    def select_timbre(self, name: str, *, now: bool = False) -> None:
        """Move to preset `name` (smoothly, from the next frame); with `now`, jump to it at once
        (an offline render's starting timbre, before the first frame)."""
        self._check_preset(name)
        self.timbre_name = name
        if now:
            for voice in self.voices:
                voice.z = self.presets[name].copy()
        self.commands.append(("timbre", self.presets[name]))

    def set_growth(self, mode: str) -> None:
        """Growth mode (realtime.params.GROWTH_MODES, see the module docstring), now."""
        self.apply(SetGrowth(mode))

    def _start_pending(self) -> None:
        for voice in self.voices:  # notes that stole a voice, which faded out over last frame
            if voice.pending is not None:
                self._start_note(voice, *voice.pending)

    def _apply_commands(self, frame: int, *, only: frozenset[str] | None = None) -> None:
        """Carry out the queued commands (with `only`, those kinds; the others stay queued, in
        their order)."""
        kept: list[tuple[str, Any]] = []
        while self.commands:
            kind, value = self.commands.popleft()
            if only is not None and kind not in only:
                kept.append((kind, value))
                continue
            if kind == "note_on":
                self._note_on(*value)
            elif kind == "note_off":
                self._note_off(value)
            elif kind == "newest_voice":
                name, stored = value
                newest = self.voice
                if newest.pending is not None:  # its note waits for the voice to fade out
                    hz, velocity = newest.pending
                    newest.pending = (stored, velocity) if name == "pitch_hz" else (hz, stored)
                elif name == "pitch_hz":
                    newest.pitch_target_hz = stored
                else:
                    newest.velocity = stored
            elif kind == "timbre":
                for voice in self.voices:
                    voice.z_target = np.asarray(value, np.float32)
            elif kind == "nca_reset":
                for voice in [*self.voices, self.shared]:
                    self._reseed(voice)
            elif kind == "set_mask":
                for voice in [*self.voices, self.shared]:
                    voice.nca_state = voice.nca_state.copy()
                    voice.nca_state[0, 0, :] = value
            elif kind == "nca_step":  # the voices that sound; in silence every voice (one will)
                sounding = [v for v in self.voices if v.sounding]
                takers = [self.shared] if self.growth == "shared" else sounding or self.voices
                for voice in takers:
                    voice.nca_pending += value
            elif kind == "texture_reset" and self.texture is not None:
                self.texture.reset()
            elif kind == "texture_perturb" and self.texture is not None:
                self._perturb_texture(*value)
            elif kind == "nca_perturb":
                for voice in [*self.voices, self.shared]:
                    draws = uniform(self.seed + 2, frame, voice.slot, self._draws)
                    hit = draws < value
                    hit[: self.meta.nca_seed_harmonics] = False
                    voice.nca_state = voice.nca_state * ~hit[None, None, :]
        self.commands.extend(kept)

    def _check_texture(self) -> None:
        if self.texture is None:
            raise ParameterError(
                "this model has no texture NCA (train one: grow-train --resume --phase texture, "
                "then grow-export)"
            )

    def _perturb_texture(self, start: float, end: float, low: int, high: int) -> None:
        """TexturePerturb's region in the texture's frames and cells."""
        assert self.texture is not None
        frames = self.texture.spec.frames
        first = min(int(start * frames), frames - 1)
        stop = max(math.ceil(end * frames), first + 1) if end > start else math.ceil(end * frames)
        if low == high == 0:
            cells = (0, self.texture.spec.width)
        else:
            cells = (max(low, 1) - 1, min(high, self.texture.spec.harmonic_cells))
        self.texture.perturb((first, stop), cells)

    def start_workers(self) -> None:
        """Start the texture NCA's worker thread (an engine made with texture_thread)."""
        if self.texture is not None:
            self.texture.start()

    def stop_workers(self) -> None:
        if self.texture is not None:
            self.texture.stop()

    # -- the voice allocator ----------------------------------------------------------------------
    def _note_on(self, note: float, hz: float, velocity: float) -> None:
        voice = self._allocate(note) if self.polyphonic else self.voices[0]
        same_note = voice.note == note and voice.sounding
        voice.note, voice.started = note, self.notes_started
        self.notes_started += 1
        if voice.pending is not None or (self.polyphonic and voice.fading):
            voice.pending = (hz, velocity)  # still fading out for a steal: start after it
        elif self.polyphonic and voice.envelope.level > 0.0 and not same_note:
            # stolen: fade to zero over this frame (the synth's ramp), start at the next
            voice.pending = (hz, velocity)
            voice.envelope.level, voice.envelope.stage = 0.0, "idle"
        else:  # a free voice, the same note again, or the one voice (legato)
            self._start_note(voice, hz, velocity)

    def _start_note(self, voice: Voice, hz: float, velocity: float) -> None:
        voice.pending = None
        if voice.envelope.level == 0.0:
            # a new note after silence starts on pitch
            if self.polyphonic:
                voice.pitch_hz = hz
            else:
                self.smoother.jump("pitch_hz")
            if self.growth == "per-note":
                self._reseed(voice)
        voice.pitch_target_hz, voice.velocity = hz, velocity
        voice.envelope.gate_on()

    def _allocate(self, note: float) -> Voice:
        """The voice for a new note: the one playing (or about to play) this note number, else
        the lowest free slot, else the oldest released voice, else the oldest."""
        for voice in self.voices:
            playing = voice.sounding or voice.pending is not None
            if voice.started >= 0 and voice.note == note and playing:
                return voice
        free = [v for v in self.voices if not (v.sounding or v.fading) and v.pending is None]
        if free:
            return free[0]
        released = [v for v in self.voices if v.envelope.stage == "release"]
        return min(released or self.voices, key=lambda voice: voice.started)

    def _note_off(self, note: float | None) -> None:
        for voice in self.voices:
            if note is None or abs(note - voice.note) < 1e-6:
                voice.pending = None  # a note that was waiting for its stolen voice never sounds
                voice.envelope.gate_off()

    def _reseed(self, voice: Voice) -> None:
        voice.nca_state = np.asarray([self.meta.nca_seed_state], np.float32)
        voice.nca_step_count = 0
        voice.nca_clock = 0.0

    @property
    def nca_step_count(self) -> int:
        """NCA steps of the mask the status shows: the shared one, or the newest voice's."""
        return (self.shared if self.growth == "shared" else self.voice).nca_step_count

    def _nca_step_due(self, voice: Voice, rate: float, *, sounding: bool) -> bool:
        """Advance the NCA clock of `voice` (only while `sounding`); whether this frame steps."""
        if self.growth == "off":
            return False
        if sounding:
            voice.nca_clock += min(rate, self.frame_rate) / self.frame_rate
        step = voice.nca_pending > 0 or voice.nca_clock >= 1.0
        if step:
            if voice.nca_pending > 0:
                voice.nca_pending -= 1
            else:
                voice.nca_clock -= 1.0
            voice.nca_step_count += 1
        return step

    # -- one control frame ------------------------------------------------------------------------
    def _compute_frame(self, frame: int, *, every_voice: bool = False) -> list[Voice]:
        """Read parameters and commands, step smoothing and the gate, then the voices that sound
        (or are fading out; every voice with `every_voice`, and always the one voice when
        monophonic): their envelopes and NCA clocks, one graph call for all of them, and each
        one's controls for the frame (written into its `upcoming`). Returns those voices."""
        if self.inbox:
            self._drain_inbox(self.position_of(max(frame - 1, 0)))
        self._start_pending()
        self._apply_commands(frame)
        # this frame takes every control so far
        self._block_change = self._pitch_change = self._reaimed = False
        self._save_frame_start()
        self.smoother.step()
        get = self.smoother.value
        self._gate = self.gate.step(get("loudness_db"), get("gate_db"))
        if self.texture is not None and get("texture_blend") > 0.0:  # grows while heard
            self.texture.advance(frame, get("texture_rate"), self.frame_rate)
        active = self._step_voices(every_voice)
        self._run_voices(active, frame, self._gate)
        if self.trace is not None:
            newest = self.voice
            computed = any(voice is newest for voice in active)
            self.trace.append((newest.upcoming if computed else newest.current).copy())
        return active

    def _save_frame_start(self) -> None:
        """Remember what stepping the frame changes (the smoothing, each voice), so that a
        control arriving during the segment can recompute the frame (`_reaim`)."""
        self._smoothed_before[:] = self.smoother.state
        for voice in self.voices:
            voice.save()
        self.shared.save()

    def _step_voices(self, every_voice: bool) -> list[Voice]:
        """Smooth each voice's timbre (and, with several, its pitch); the voices to compute."""
        pitch_coeff = float(self.smoother.coeff[self.params.index["pitch_hz"]])
        active = []
        for voice in self.voices:
            np.subtract(voice.z_target, voice.z, out=self._z_step)  # z += 0.2 (target - z)
            self._z_step *= 0.2
            voice.z += self._z_step
            if self.polyphonic:
                voice.pitch_hz += pitch_coeff * (voice.pitch_target_hz - voice.pitch_hz)
                quiet = not (voice.sounding or voice.fading)
                steps_due = self.growth != "off" and (
                    voice.nca_pending > 0
                    or (self.growth == "shared" and voice.slot == 0 and self.shared.nca_pending > 0)
                )  # asked-for steps are taken in silence too, as with one voice
                if quiet and not (every_voice or steps_due):
                    continue
            active.append(voice)
        return active

    def _run_voices(
        self, voices: list[Voice], frame: int, gate: float, envelope_dt: list[float] | None = None
    ) -> None:
        """Step each voice's envelope (by one frame, or `envelope_dt` s) and NCA clock, run the
        graph once for all of them, and turn its outputs into each voice's frame controls (in
        place: no allocation)."""
        if not voices:
            return
        meta, get = self.meta, self.smoother.value
        n = len(voices)
        inputs = self._runner.inputs(n)
        f0_in, loud_in, z_in = inputs["f0_hz"], inputs["loudness_db"], inputs["z"]
        gru_in, nca_in, step_in = inputs["gru_state"], inputs["nca_state"], inputs["nca_step"]
        shared = self.growth == "shared"
        if shared:  # one NCA step decision and fire mask for every row
            sounding = any(voice.sounding for voice in self.voices)
            shared_step = self._nca_step_due(self.shared, get("nca_rate"), sounding=sounding)
            self._slots[0] = 0
        bend = self._bend()
        loudness, nca_rate = get("loudness_db"), get("nca_rate")
        levels = self._levels
        for i, voice in enumerate(voices):
            pitch, velocity = (
                (voice.pitch_hz, voice.velocity)
                if self.polyphonic
                else (get("pitch_hz"), get("velocity"))
            )
            dt = 1.0 / self.frame_rate if envelope_dt is None else envelope_dt[i]
            level = voice.envelope.step(dt) * velocity
            level *= gate
            f0 = self._f0_hz(pitch, bend)
            voice.upcoming.f0_hz = f0
            f0_in[i, 0] = f0
            loud_in[i, 0] = max(loudness + 20.0 * math.log10(max(level, 1e-5)), -100.0)
            z_in[i] = voice.z[0]
            gru_in[:, i] = voice.gru_state[:, 0]
            if shared:
                nca_in[i] = self.shared.nca_state[0]
                step_in[i] = 1.0 if shared_step else 0.0
            else:
                nca_in[i] = voice.nca_state[0]
                due = self._nca_step_due(voice, nca_rate, sounding=voice.sounding)
                step_in[i] = 1.0 if due else 0.0
                self._slots[i] = voice.slot
            levels[i] = level
        rows = 1 if shared else n  # shared: one fire mask, every row
        draws = uniform_rows(self.seed + 1, frame, self._slots[:rows], self._fire_draws[:rows])
        fired = self._fired[:rows]
        np.less(draws, meta.nca_fire_rate, out=fired)  # then cast: no buffer for the cast
        np.copyto(inputs["nca_fire"][:, 0], fired)
        full_timbre = self.growth == "off"
        blend = 1.0 if full_timbre else get("mask_blend")
        wanted: Wanted = "full" if full_timbre else ("both" if blend < 1.0 else "masked")
        out = self._runner.run(n, wanted)
        if shared:  # every row stepped the same state with the same fire mask
            self.shared.nca_state[0] = out.nca_state[0]
        gain_all = 10.0 ** (get("gain_db") / 20.0)
        noise_gain = 10.0 ** (get("noise_db") / 20.0)
        amps, mags = self._amps_batch[:n], self._mags_batch[:n]
        gains, gains32 = self._gains[:n], self._gains32[:n]
        if wanted == "both":  # blend x masked + (1 - blend) x unmasked
            assert out.harmonic_amps_full is not None
            np.multiply(out.harmonic_amps, blend, out=amps)
            unmasked = self._blend_batch[:n]
            np.multiply(out.harmonic_amps_full, 1.0 - blend, out=unmasked)
            amps += unmasked
        else:
            amps[:] = out.harmonic_amps
        mags[:] = out.noise_mags
        texture_blend = get("texture_blend")
        if self.texture is not None and texture_blend > 0.0:
            self._blend_texture(frame, n, texture_blend, f0_in[:n], loud_in[:n])
        for i in range(n):
            gains[i, 0] = gains32[i, 0] = gain_all * levels[i]
        amps *= gains32
        mags *= gains
        mags *= noise_gain
        for i, voice in enumerate(voices):
            voice.upcoming.harmonic_amps[:] = amps[i]
            voice.upcoming.noise_mags[:] = mags[i]
            voice.gru_state[:, 0] = out.gru_state[:, i]
            voice.mask[0] = out.mask[i]
            if not (full_timbre or shared):  # kept for when growth is on (or per voice)
                voice.nca_state[0] = out.nca_state[i]

    def _blend_texture(
        self, frame: int, n: int, blend: float, f0_hz: np.ndarray, loudness_db: np.ndarray
    ) -> None:
        """Mix the texture's controls at this frame (the same pitch and loudness inputs as the
        graph's) into the frame's rows: (1 - blend) x the plain timbre + blend x the texture."""
        assert self.texture is not None
        texture_amps, texture_mags = self.texture.controls(frame, f0_hz, loudness_db)
        amps, mags = self._amps_batch[:n], self._mags_batch[:n]
        scaled_amps, scaled_mags = self._blend_batch[:n], self._texture_mags[:n]
        amps *= np.float32(1.0 - blend)
        np.multiply(texture_amps, np.float32(blend), out=scaled_amps)
        amps += scaled_amps
        mags *= 1.0 - blend
        np.multiply(texture_mags, blend, out=scaled_mags)
        mags += scaled_mags

    # -- one segment ------------------------------------------------------------------------------
    def _queue_noise(self, computed: list[Voice], *, frame: int, offset: int) -> None:
        """Frame `frame`'s filtered noise of every voice in `computed` is to be overlap-added
        into the accumulator (sample 0 = the current segment's first) from `offset` on (where
        its first output sample lands, the filter's delay taken off). Each voice draws its own
        white noise (keyed by its slot). The voices are filtered over the blocks before the
        noise is first heard (`_filter_noise`), so no block carries all of them; always in
        the same order, so the sum does not depend on when."""
        self._noise_voices, self._noise_done = computed, 0
        self._noise_frame, self._noise_offset = frame, offset

    def _filter_noise(self, count: int | None = None) -> None:
        """Filter the next `count` queued voices' noise (all of them without a count)."""
        voices, done = self._noise_voices, self._noise_done
        end = len(voices) if count is None else min(len(voices), done + count)
        frame = self._noise_frame
        n = self.position_of(frame + 1) - self.position_of(frame)
        for voice in voices[done:end]:
            mags = voice.upcoming.noise_mags
            if mags.any():
                self._add_noise(voice.slot, frame, n, mags, self._noise_offset)
        self._noise_done = end

    def _add_noise(self, slot: int, frame: int, n: int, mags: np.ndarray, offset: int) -> None:
        """Overlap-add the n samples of white noise of (frame, slot), filtered by band gains
        mags [B], into the accumulator from `offset` on."""
        white = frame_noise(self.seed, frame, n, slot, out=self._noise_filter.white(n))
        self._noise_filter.add_filtered(white.shape[0], mags, self.noise_acc, offset)

    def _filter_noise_before(self, read: int, take: int) -> None:
        """Filter enough queued noise that the piece read .. read + take hears all it should:
        everything once the piece reaches the noise's start, else a share per block."""
        left = len(self._noise_voices) - self._noise_done
        if not left:
            return
        before_heard = self._noise_offset - read
        if take >= before_heard:
            self._filter_noise()
        else:
            blocks = before_heard // take  # pieces of this size before it is heard
            self._filter_noise(-(-left // blocks))

    def _next_segment(self) -> None:
        """Begin segment t (frame t to t + 1, t = `frame`): compute frame t + 1 and add its
        noise. Its samples are synthesized block by block (`_mix_samples`), or here whole when
        a reverb needs the segment at once."""
        if self._segment_length:  # the segment just played: the accumulator moves on by it
            self._filter_noise()  # (done already unless the frame's noise is never heard)
            played = self._segment_length
            acc, spare = self.noise_acc, self._noise_spare
            spare[:-played] = acc[played:]
            spare[-played:] = 0.0
            self.noise_acc, self._noise_spare = spare, acc
            for voice in self._segment_voices:
                voice.advance()
        t = self.frame
        n = self.position_of(t + 1) - self.position_of(t)
        computed = self._compute_frame(t + 1)
        self._queue_noise(computed, frame=t + 1, offset=n - self.noise_delay)
        self._segment_voices = computed
        self._segment_length, self._read = n, 0
        self.frame = t + 1
        if self.reverb is not None:
            self._filter_noise()
            self._reverb_segment[:n] = self.reverb.process(self._mix_samples(0, n))

    def _mix_samples(self, start: int, take: int) -> np.ndarray:
        """Samples start .. start + take of the segment's dry mix: every voice's harmonics and
        the noise, float64 [take] (working memory, valid until the next call)."""
        mix = self._mix[:take]
        mix[:] = 0.0
        length = self._segment_length
        for voice in self._segment_voices:
            current, upcoming = voice.current, voice.upcoming
            voice.phase = self._bank.render(
                current.f0_hz,
                upcoming.f0_hz,
                current.harmonic_amps,
                upcoming.harmonic_amps,
                length=length - voice.origin,
                start=start - voice.origin,
                phase=voice.phase,
                out=mix,
                add=True,
            )
        mix += self.noise_acc[start : start + take]
        return mix

    def _reaim(self) -> None:
        """Controls heard from this block: frame t + 1 is computed again from the state before
        it was stepped, with the controls applied since, and the rest of the segment glides
        from where its samples are now (each voice's value at this sample) to the new frame.

        A note that starts from silence begins its attack here (its envelope steps by the time
        left to frame t + 1, not by a frame); the frame's noise, already filtered into the
        accumulator, is corrected by the change of each voice's noise gains (linear). Once per
        segment; a note that steals a voice waits for the frame (the stolen one fades over it).
        """
        if self._would_steal():
            return
        self._reaimed = True
        self._pitch_change = False
        self._filter_noise()  # the frame's noise as computed, then corrected below
        read, length, frame = self._read, self._segment_length, self.frame
        before = self._segment_voices
        self._start_from_here()
        for voice in before:
            voice.saved_mags[:] = voice.upcoming.noise_mags
        # Back to the frame's start for what these controls change (the voices; the smoothing
        # of BLOCK_PARAMS): the other parameters and queued controls keep to the frame.
        smoother, smoothed_before = self.smoother, self._smoothed_before
        block_params = [self.params.index[name] for name in BLOCK_PARAMS]
        for i in block_params:
            smoother.state[i] = smoothed_before[i]
        for voice in [*self.voices, self.shared]:
            voice.restore()
        stages = [voice.envelope.stage for voice in self.voices]
        self._apply_commands(frame, only=BLOCK_COMMANDS)
        changed = {  # a voice whose envelope changed stage here steps by the time left
            voice.slot
            for voice, stage in zip(self.voices, stages, strict=True)
            if voice.envelope.stage != stage
        }
        for voice in [*self.voices, self.shared]:
            voice.save()
        for i in block_params:  # the frame's start, with any jump a note made
            smoothed_before[i] = smoother.state[i]
        smoother.step_from(BLOCK_PARAMS, smoothed_before)
        voices = self._step_voices(every_voice=False)
        voices += [voice for voice in before if not any(voice is v for v in voices)]
        left = (length - read) / self.sample_rate
        dts = [left if voice.slot in changed else 1.0 / self.frame_rate for voice in voices]
        self._run_voices(voices, frame, self._gate, dts)
        if self.trace is not None and self.trace:
            newest = self.voice
            if any(voice is newest for voice in voices):
                self.trace[-1] = newest.upcoming.copy()
        n_next = self.position_of(frame + 1) - self.position_of(frame)
        for voice in voices:
            if not any(voice is v for v in before):  # starting here: from silence, on pitch
                voice.current.f0_hz = voice.upcoming.f0_hz
                voice.origin = read
                voice.saved_mags[:] = 0.0
            np.subtract(voice.upcoming.noise_mags, voice.saved_mags, out=self._mags_change)
            if self._mags_change.any():
                offset = length - self.noise_delay
                self._add_noise(voice.slot, frame, n_next, self._mags_change, offset)
        self._segment_voices = voices

    def _start_from_here(self) -> None:
        """Each voice's segment restarts from the sample being read, from its value there."""
        read, length = self._read, self._segment_length
        for voice in self._segment_voices:
            current, upcoming = voice.current, voice.upcoming
            r = (read - voice.origin) / (length - voice.origin)
            current.f0_hz = current.f0_hz + r * (upcoming.f0_hz - current.f0_hz)
            np.subtract(upcoming.harmonic_amps, current.harmonic_amps, out=self._amps_step)
            self._amps_step *= r
            current.harmonic_amps += self._amps_step
            voice.origin = read

    def _reaim_pitch(self) -> None:
        """A pitch or bend heard from this block: frame t + 1's pitch is smoothed again from
        before the frame towards the new target, and the rest of the segment glides there from
        the pitch it has now. The decoder's timbre follows at the next frame (no graph call),
        so this may happen at every block."""
        if any(kind != "newest_voice" or value[0] != "pitch_hz" for kind, value in self.commands):
            return  # other controls are waiting for the frame: so does this one
        self._pitch_change = False
        self._apply_commands(self.frame)
        self._start_from_here()
        smoother = self.smoother
        smoother.step_from(PITCH_PARAMS, self._smoothed_before)
        bend = self._bend()
        pitch_coeff = float(smoother.coeff[self.params.index["pitch_hz"]])
        for voice in self._segment_voices:
            if self.polyphonic:
                saved = voice.saved_pitch_hz
                voice.pitch_hz = saved + pitch_coeff * (voice.pitch_target_hz - saved)
            pitch = voice.pitch_hz if self.polyphonic else smoother.value("pitch_hz")
            voice.upcoming.f0_hz = self._f0_hz(pitch, bend)
        if self.trace:
            newest = self.voice
            if any(voice is newest for voice in self._segment_voices):
                self.trace[-1].f0_hz = newest.upcoming.f0_hz

    def _bend(self) -> float:
        """The smoothed pitch bend as a frequency ratio."""
        return float(2 ** (self.smoother.value("bend_semitones") / 12.0))

    def _f0_hz(self, pitch_hz: float, bend: float) -> float:
        """A voice's f0 for the graph: its pitch bent, within the model's f0 range."""
        return min(max(pitch_hz * bend, self.meta.f0_min_hz), self.meta.f0_max_hz)

    def _would_steal(self) -> bool:
        """Whether the queued note-ons need more voices than are free at the frame's start
        (the state a re-aim goes back to): then one would take a voice from another note."""
        if not self.polyphonic:
            return False
        queued = [value[0] for kind, value in self.commands if kind == "note_on"]
        if not queued:
            return False
        playing = {  # notes that keep their voice (the same note again)
            voice.note
            for voice in self.voices
            if voice.started >= 0 and (voice.saved_stage != "idle" or voice.pending is not None)
        }
        free = sum(  # idle at the frame's start, not fading out, nothing waiting
            voice.saved_stage == "idle" and voice.current.silent() and voice.pending is None
            for voice in self.voices
        )
        return len({note for note in queued if note not in playing}) > free

    def process(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next `n` output samples: float32 [n], written into `out` when given (then a
        block in steady state allocates nothing)."""
        if out is None:
            out = np.empty(n, np.float32)
        if not self._started:
            self.start()
        if 0 < self._read < self._segment_length and self.reverb is None:
            # within a segment (not yet synthesized): controls act from this block
            if self.inbox:
                self._drain_inbox(self.position)
            if self._block_change and not self._reaimed:
                self._reaim()
            elif self._pitch_change:
                self._reaim_pitch()
        written = 0
        while written < n:
            if self._read >= self._segment_length:
                self._next_segment()
            take = min(n - written, self._segment_length - self._read)
            piece = out[written : written + take]
            if self.reverb is None:
                self._filter_noise_before(self._read, take)
                piece[:] = self._mix_samples(self._read, take)
            else:
                piece[:] = self._reverb_segment[self._read : self._read + take]
            self._read += take
            written += take
        self.position += n
        return out
