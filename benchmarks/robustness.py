"""Robustness benchmark: does matching survive the edits real re-uploads go through?

Takes source videos (the project's fixture originals, `../shared/videos/` when present, and any
file or folder given on the command line), makes edited copies of each with ffmpeg in a
temporary folder (re-encodes, rescales, crops, padding, mirror, overlays, colour shifts, speed
changes, trims, intros, compilations, picture-in-picture, noise, rotation), makes a slideshow of
each source (its frames held for seconds, all slideshows with the same timing) with a re-encoded
copy, adds negatives (different contents sharing an intro card, a logo, a static scene or black
frames; very short clips), ingests everything into a temporary store through
`vidtrace.scan.ingest` and prints:

- recall per edit (the copy matched with its source), pooled recall, precision over pairs of
  different contents, and a sweep over the match score threshold;
- segment boundary errors (median start/end error in seconds, both sides), sub-clip offsets,
  compilation sources, and the speed reported for sped-up copies;
- in the same run, a bag-of-frames baseline: 1 fps pHash of whole frames, a pair matches when a
  share of one video's frames has a match in the other within the distance threshold (no
  temporal check);
- the fingerprinting cost per video-second (CPU of Python and ffmpeg together).

    python benchmarks/robustness.py            # fixtures + ../shared/videos (about 6 minutes on 2 cores)
    python benchmarks/robustness.py --quick    # fixture originals only, fewer edits (about 2 minutes)
    python benchmarks/robustness.py DIR_OR_FILE ... [--no-defaults] [--keep DIR] [--json FILE]
    python benchmarks/robustness.py --cost-against OLD_CHECKOUT   # fingerprinting cost, old vs this
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from vidtrace import settings as defaults
from vidtrace.decode import decode, ffmpeg_binary
from vidtrace.fingerprint import fingerprint_file
from vidtrace.hashes import bits_to_bytes, hamming_matrix, to_matrix
from vidtrace.scan import ingest
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store, StoreLocation

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
FIXTURE_SOURCES = ["news_hub/orig_a.mp4", "news_hub/orig_b.mp4", "garden_club/unrelated_c.mp4"]
SHARED = PROJECT.parent / "shared" / "videos"
#: In the shared folder every file is one content: the longest cut is the source, the others real copies.
SHARED_SOURCE = "pattern-longer-no-bar.mp4"
MAX_SOURCE_S = 16.0
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
#: Edits a frame hash cannot be expected to survive; reported, not required.
NOT_REQUIRED = {"rotate_90"}
FONT = "DejaVu Sans"


@dataclass
class Expected:
    """`[v_start, v_end]` of the copy shows `[s_start, s_end]` of source `source` at `speed`."""

    source: str
    v_start: float
    v_end: float
    s_start: float
    s_end: float
    speed: float = 1.0


@dataclass
class Clip:
    name: str  # file stem, unique
    kind: str  # "source", an edit name, "real_copy" or "negative:<what>"
    contents: frozenset[str]  # the sources whose pictures it shows
    expected: list[Expected] = field(default_factory=list)  # what must be found
    path: Path | None = None


# --- sources and ffmpeg ---------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{done.stderr[-800:]}")


def probe(path: Path) -> tuple[float, int, int]:
    """(duration_s, width, height) from the stream header."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text).groups()
    w, hh = re.search(r"Video: .*?(\d{2,5})x(\d{2,5})", text).groups()
    return int(h) * 3600 + int(m) * 60 + float(s), int(w), int(hh)


ENC = ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]


def find_sources(paths: list[str], use_defaults: bool, quick: bool) -> list[tuple[str, Path, list[Path]]]:
    """(name, source file, real copies of it) for every source."""
    found: list[tuple[str, Path, list[Path]]] = []
    if use_defaults:
        for rel in FIXTURE_SOURCES:
            p = PROJECT / "fixtures" / "videos" / rel
            if p.is_file():
                found.append((p.stem, p, []))
        if not quick and (SHARED / SHARED_SOURCE).is_file():
            copies = sorted(p for p in SHARED.glob("*.mp4") if p.name != SHARED_SOURCE)
            found.append(("pattern", SHARED / SHARED_SOURCE, copies))
    for given in paths:
        p = Path(given)
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS) if p.is_dir() else [p]
        for f in files:
            found.append((re.sub(r"\W+", "_", f.stem), f, []))
    return found


# --- slideshows ------------------------------------------------------------------------------

#: Slideshow sources are named this + the source's name: frames of the source `SLIDE_EVERY_S`
#: apart, each held `SLIDE_HOLD_S`, at most `MAX_SLIDES` of them (all with the same timing, so the
#: slideshows of different sources change slides at the same instants: a negative too).
SLIDES = "slides_"
SLIDE_EVERY_S = 1
SLIDE_HOLD_S = 4
MAX_SLIDES = 6


def make_slideshow(name: str, src: Path, dur: float, videos: Path, reuse: bool) -> Clip | None:
    """A slideshow of the source's frames, as a source of its own (it shows the source's pictures)."""
    count = min(MAX_SLIDES, int(dur // SLIDE_EVERY_S))
    if count < 3:
        return None
    target = videos / "source" / f"{SLIDES}{name}.mp4"
    if not (reuse and target.is_file()):
        ffmpeg("-i", str(src), "-vf",
               f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{SLIDE_EVERY_S})',setpts=N*{SLIDE_HOLD_S}/TB,fps=25",
               "-frames:v", str(count * SLIDE_HOLD_S * 25), *ENC, str(target))  # fmt: skip
    return Clip(f"{SLIDES}{name}", "source", frozenset({f"{SLIDES}{name}", name}), [], target)


def slideshow_copy(slides: Clip) -> tuple[Clip, list[str]]:
    """The slideshow re-encoded at 360p, a little brighter: it must match the slideshow, whole."""
    dur = probe(slides.path)[0]
    clip = Clip(f"{slides.name}__slideshow", "slideshow", slides.contents, [Expected(slides.name, 0.0, dur, 0.0, dur)])
    return clip, ["-i", str(slides.path), "-vf", "scale=-2:360,eq=brightness=0.05", *ENC]


# --- the edits ------------------------------------------------------------------------------


def even(expr: str) -> str:
    return f"trunc(({expr})/2)*2"


def make_variants(name: str, src: Path, dur: float, w: int, h: int, other: tuple[str, Path, float], quick: bool):
    """(clip, ffmpeg args) for every edit of one source; `other` is a second source for mixes."""
    landscape = w >= h
    o_name, o_path, o_dur = other
    full = [Expected(name, 0.0, dur, 0.0, dur)]
    reframe_crop = f"crop={even('ih*9/16')}:ih" if landscape else f"crop=iw:{even('iw*9/16')}"
    canvas = (540, 960) if landscape else (960, 540)
    fit = f"scale={canvas[0]}:{canvas[1]}:force_original_aspect_ratio=decrease,scale={even('iw')}:{even('ih')}"
    fill = (
        f"scale={canvas[0] // 4}:{canvas[1] // 4}:force_original_aspect_ratio=increase,crop={canvas[0] // 4}:{canvas[1] // 4},"
        f"boxblur=6:1,scale={canvas[0]}:{canvas[1]}"
    )
    logo = "smptebars=s=160x120:d=1,format=yuv420p"
    sepia = "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131"
    short_side = "scale=-2:{0}" if landscape else "scale={0}:-2"
    caption = (
        f"drawbox=x=0:y=ih*0.80:w=iw:h=ih*0.14:color=black@0.6:t=fill,"
        f"drawtext=font='{FONT}':text='You will not believe this':fontcolor=white:fontsize=h*0.07:x=(w-tw)/2:y=h*0.83"
    )
    card = "color=c=0x1a2a6c:s={w}x{h}:d={d}:r=25,drawbox=x=iw*0.2:y=ih*0.4:w=iw*0.6:h=ih*0.2:color=white:t=fill,format=yuv420p"
    v: list[tuple[Clip, list[str]]] = []

    def simple(kind: str, vf: str, expected=None, extra: list[str] | None = None):
        clip = Clip(f"{name}__{kind}", kind, frozenset({name}), expected if expected is not None else full)
        v.append((clip, ["-i", str(src), "-vf", vf, *(extra or ENC)]))

    simple("reencode_low_bitrate", "null", extra=["-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "100k",
                                                  "-maxrate", "100k", "-bufsize", "200k", "-pix_fmt", "yuv420p"])
    simple("downscale_360p", short_side.format(360))
    simple("upscale_1080p", short_side.format(1080))
    simple("vertical_crop_9x16", reframe_crop)
    simple("letterbox_black", f"pad=iw:{even('ih*1.6')}:0:(oh-ih)/2:black")
    simple("pillarbox_black", f"pad={even('iw*1.6')}:ih:(ow-iw)/2:0:black")
    simple("pad_coloured", f"pad={even('iw*1.5')}:{even('ih*1.2')}:(ow-iw)/2:(oh-ih)/2:0x3050a0")
    clip = Clip(f"{name}__blurred_background", "blurred_background", frozenset({name}), full)
    v.append((clip, ["-i", str(src), "-filter_complex",
                     f"[0:v]split[a][b];[a]{fill}[bg];[b]{fit}[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2",
                     *ENC]))  # fmt: skip
    simple("mirror", "hflip")
    simple("border_crop_15", f"crop={even('iw*0.85')}:{even('ih*0.85')},scale={w}:{h}")
    clip = Clip(f"{name}__corner_logo", "corner_logo", frozenset({name}), full)
    v.append((clip, ["-i", str(src), "-f", "lavfi", "-i", logo, "-filter_complex",
                     "[1:v]loop=-1:1,scale=iw*0.18*{w}/160:-2[l];[0:v][l]overlay=W-w-W*0.04:H*0.04:shortest=1".replace("{w}", str(w)),
                     *ENC]))  # fmt: skip
    simple("caption", caption)
    simple("brightness", "eq=brightness=0.15")
    simple("contrast", "eq=contrast=1.5")
    simple("saturation", "eq=saturation=2.5")
    simple("greyscale", "hue=s=0")
    simple("sepia", sepia)
    for speed in (0.9, 1.1):
        simple(f"speed_{speed}x", f"setpts=PTS/{speed}", [Expected(name, 0.0, dur / speed, 0.0, dur, speed)])
    simple("fps_15", "fps=15")
    start, length = round(0.3 * dur, 2), round(0.4 * dur, 2)
    simple("subclip_40", "null", [Expected(name, 0.0, length, start, start + length)],
           extra=["-ss", str(start), "-t", str(length), *ENC])  # fmt: skip
    # intro card (3 s) and outro card (2 s) around the whole clip
    clip = Clip(f"{name}__intro_outro", "intro_outro", frozenset({name}), [Expected(name, 3.0, 3.0 + dur, 0.0, dur)])
    v.append((clip, ["-f", "lavfi", "-i", card.format(w=w, h=h, d=3), "-i", str(src),
                     "-f", "lavfi", "-i", card.format(w=w, h=h, d=2), "-filter_complex",
                     "[1:v]fps=25,format=yuv420p,setsar=1[m];[0:v]setsar=1[i];[2:v]setsar=1[o];[i][m][o]concat=n=3:v=1:a=0",
                     *ENC]))  # fmt: skip
    # compilation: 40% of this source, then 40% of the other
    a0, a1 = round(0.1 * dur, 2), round(0.5 * dur, 2)
    b0, b1 = round(0.3 * o_dur, 2), round(0.7 * o_dur, 2)
    la, lb = a1 - a0, b1 - b0
    clip = Clip(f"{name}__compilation", "compilation", frozenset({name, o_name}),
                [Expected(name, 0.0, la, a0, a1), Expected(o_name, la, la + lb, b0, b1)])  # fmt: skip
    v.append((clip, ["-i", str(src), "-i", str(o_path), "-filter_complex",
                     f"[0:v]trim={a0}:{a1},setpts=PTS-STARTPTS,fps=25,setsar=1[a];"
                     f"[1:v]trim={b0}:{b1},setpts=PTS-STARTPTS,fps=25,scale={w}:{h}:force_original_aspect_ratio=decrease,"
                     f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1[b];[a][b]concat=n=2:v=1:a=0",
                     *ENC]))  # fmt: skip
    # picture-in-picture: this source small (40% wide) over the other one
    clip = Clip(f"{name}__picture_in_picture", "picture_in_picture", frozenset({name, o_name}), full)
    v.append((clip, ["-stream_loop", "-1", "-i", str(o_path), "-i", str(src), "-filter_complex",
                     f"[0:v]scale={w}:{h},setsar=1[host];[1:v]scale={even('iw*0.4')}:-2[pip];"
                     f"[host][pip]overlay=W*0.05:H*0.05:shortest=1",
                     "-t", f"{dur:.2f}", *ENC]))  # fmt: skip
    simple("noise", "noise=alls=25:allf=t+u")
    simple("rotate_90", "transpose=1")
    if quick:
        keep = {"reencode_low_bitrate", "vertical_crop_9x16", "pillarbox_black", "blurred_background", "mirror",
                "border_crop_15", "caption", "speed_1.1x", "subclip_40", "intro_outro", "compilation",
                "picture_in_picture", "rotate_90"}  # fmt: skip
        v = [(c, a) for c, a in v if c.kind in keep]
    return v


def make_negatives(sources: list[tuple[str, Path, float, int, int]]):
    """Different contents sharing an intro, a logo, a static scene or black frames; very short clips."""
    out: list[tuple[Clip, list[str]]] = []
    for name, src, dur, w, h in sources:
        part0 = round(max(0.0, dur / 2 - 3), 2)
        part = f"[0:v]trim={part0}:{part0 + 6},setpts=PTS-STARTPTS,fps=25,scale=480:360,setsar=1"
        card = "smptehdbars=s=480x360:d=3:r=25,drawbox=x=40:y=140:w=400:h=80:color=white:t=fill,format=yuv420p,setsar=1"
        black = "color=c=black:s=480x360:d={d}:r=25,format=yuv420p,setsar=1"
        scene = "testsrc2=s=480x360:r=25:d=0.04,loop=150:1,noise=alls=5:allf=t,format=yuv420p,setsar=1"

        def neg(what: str, inputs: list[str], graph: str, extra: list[str] | None = None):
            clip = Clip(f"neg_{what}__{name}", f"negative:{what}", frozenset({name}))
            out.append((clip, ["-i", str(src), *inputs, "-filter_complex", graph, *(extra or []), *ENC]))

        neg("black_intro", ["-f", "lavfi", "-i", black.format(d=3)], f"{part}[p];[1:v][p]concat=n=2:v=1:a=0")
        neg("title_card_intro", ["-f", "lavfi", "-i", card], f"{part}[p];[1:v][p]concat=n=2:v=1:a=0")
        neg("static_logo", ["-f", "lavfi", "-i", "smptebars=s=200x150:d=1,format=yuv420p"],
            f"{part}[p];[1:v]loop=-1:1[l];[p][l]overlay=20:20:shortest=1")  # fmt: skip
        neg("static_scene", ["-f", "lavfi", "-i", scene], f"{part}[p];[1:v]setpts=PTS-STARTPTS[s];[s][p]concat=n=2:v=1:a=0")
        neg("black_frames", ["-f", "lavfi", "-i", black.format(d=3), "-f", "lavfi", "-i", black.format(d=3)],
            f"{part}[p];[1:v][p][2:v]concat=n=3:v=1:a=0")  # fmt: skip
        neg("very_short", [], f"[0:v]trim={part0}:{part0 + 1.5},setpts=PTS-STARTPTS")
    return out


def generate(jobs: list[tuple[Clip, list[str]]], folder: Path, workers: int, reuse: bool = False) -> list[Clip]:
    """Write every clip under folder/<kind>/<name>.mp4 (the kind is the account); returns those made."""
    made: list[Clip] = []

    def one(job):
        clip, args = job
        target = folder / clip.kind.replace(":", "_") / f"{clip.name}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        if reuse and target.is_file():
            clip.path = target
            return clip
        try:
            ffmpeg(*args, str(target))
        except RuntimeError as e:
            if "drawtext" in " ".join(args):  # no font support: a caption band without letters
                args = [a.split(",drawtext=")[0] if "drawtext=" in a else a for a in args]
                ffmpeg(*args, str(target))
            else:
                print(f"  (skipped {clip.name}: {str(e).splitlines()[-1][:200]})", file=sys.stderr)
                return None
        clip.path = target
        return clip

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for clip in pool.map(one, jobs):
            if clip is not None:
                made.append(clip)
    return made


# --- measuring ------------------------------------------------------------------------------


def cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def fingerprint_cost(clips: list[Clip], settings: Settings) -> tuple[float, float, float]:
    """(CPU seconds per video-second, wall seconds per video-second, video seconds) for one process."""
    total_video = 0.0
    cpu0, wall0 = cpu_s(), time.perf_counter()
    for clip in clips:
        total_video += fingerprint_file(clip.path, settings).duration_s
    return (cpu_s() - cpu0) / total_video, (time.perf_counter() - wall0) / total_video, total_video


#: Run in a subprocess with an older vidtrace first on its path: the same cost measurement.
_COST_SCRIPT = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from vidtrace.fingerprint import fingerprint_file
from vidtrace.settings import Settings
def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
settings, video, c0 = Settings(), 0.0, cpu()
for path in sys.argv[2:]:
    video += fingerprint_file(path, settings).duration_s
print(json.dumps({"cpu_per_s": (cpu() - c0) / video}))
"""


def other_version_cost(checkout: Path, clips: list[Clip]) -> float:
    """CPU seconds per video-second of the vidtrace in `checkout` on the same clips."""
    done = subprocess.run([sys.executable, "-c", _COST_SCRIPT, str(checkout), *(str(c.path) for c in clips)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])["cpu_per_s"]


def baseline_hashes(path: Path, settings: Settings) -> list[bytes]:
    """1 fps pHash (64 bits) of whole frames, flat frames dropped: the bag-of-frames baseline."""
    out = []
    for frame in decode(path, Settings(sample_fps=1.0, frame_side_px=settings.frame_side_px)):
        if frame.pixels.std() < defaults.MIN_FRAME_STD:
            continue
        out.append(bits_to_bytes(imagehash.phash(Image.fromarray(frame.pixels)).hash))
    return out


def baseline_pairs(clips: list[Clip], settings: Settings, workers: int, max_bits: int) -> dict[tuple[str, str], float]:
    """For every pair of clips, the larger share of one's frames that has a match in the other."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        hashes = list(pool.map(lambda c: baseline_hashes(c.path, settings), clips))
    codes = [to_matrix(h, 8) for h in hashes]
    allcodes = np.concatenate(codes)
    owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(codes)])
    near = hamming_matrix(allcodes, allcodes) <= max_bits
    shares: dict[tuple[str, str], float] = {}
    n = len(clips)
    # matched[i, j]: how many frames of clip i have a near frame in clip j
    hit_any = np.zeros((len(allcodes), n), dtype=bool)
    for j in range(n):
        hit_any[:, j] = near[:, owner == j].any(axis=1)
    counts = np.zeros((n, n))
    for i in range(n):
        counts[i] = hit_any[owner == i].sum(axis=0) / max(1, (owner == i).sum())
    for i in range(n):
        for j in range(i + 1, n):
            shares[(clips[i].name, clips[j].name)] = float(max(counts[i, j], counts[j, i]))
    return shares


@dataclass
class Found:
    score: float
    segments: list[tuple[float, float, float, float, float]]  # seen from the first name: (a0, a1, b0, b1, speed)


def our_pairs(store: Store, clips: list[Clip]) -> dict[tuple[str, str], Found]:
    by_path = {str(c.path.absolute()): c.name for c in clips}
    order = {c.name: i for i, c in enumerate(clips)}
    out: dict[tuple[str, str], Found] = {}
    with store.session() as session:
        matches = repo.list_matches(session)
        uploads = repo.uploads_of_videos(session, {m.video_a_id for m in matches} | {m.video_b_id for m in matches})
        names = {vid: by_path.get(str(Path(ups[0].path).absolute())) for vid, ups in uploads.items()}
        for m in matches:
            a, b = names.get(m.video_a_id), names.get(m.video_b_id)
            if a is None or b is None:
                continue
            segs = [(s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s, s.speed) for s in m.segments]
            if order[a] > order[b]:
                a, b = b, a
                segs = [(b0, b1, a0, a1, round(1 / sp, 4)) for a0, a1, b0, b1, sp in segs]
            out[(a, b)] = Found(m.score, segs)
    return out


def key(a: str, b: str, order: dict[str, int]) -> tuple[str, str]:
    return (a, b) if order[a] < order[b] else (b, a)


def evaluate(clips: list[Clip], matched: dict[tuple[str, str], float], threshold: float):
    """Per-kind recall, pooled recall (required kinds) and precision over pairs of different contents."""
    order = {c.name: i for i, c in enumerate(clips)}
    source_of = {c.name: c.name for c in clips if c.kind == "source"}
    per_kind: dict[str, list[bool]] = defaultdict(list)
    for c in clips:
        if c.kind == "source" or c.kind.startswith("negative"):
            continue
        ok = all(matched.get(key(c.name, source_of[e.source], order), -1) >= threshold for e in c.expected)
        per_kind[c.kind].append(ok)
    true_pos = false_pos = different = 0
    false_pairs = []
    for i, a in enumerate(clips):
        for b in clips[i + 1 :]:
            related = bool(a.contents & b.contents)
            hit = matched.get(key(a.name, b.name, order), -1) >= threshold
            different += not related
            if hit and related:
                true_pos += 1
            elif hit:
                false_pos += 1
                false_pairs.append((a.name, b.name))
    required = [ok for kind, oks in per_kind.items() if kind not in NOT_REQUIRED for ok in oks]
    pooled = sum(required) / max(1, len(required))
    precision = true_pos / max(1, true_pos + false_pos)
    return per_kind, pooled, precision, false_pos, different, false_pairs


def segment_errors(clips: list[Clip], found: dict[tuple[str, str], Found]):
    """Per kind: start errors, end errors (both sides, seconds) and reported speeds."""
    order = {c.name: i for i, c in enumerate(clips)}
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in clips:
        for e in c.expected:
            k = key(c.name, e.source, order)
            f = found.get(k)
            if f is None:
                continue
            flip = k[0] != c.name  # segments are seen from k[0]; we want (copy, source)
            segs = [(b0, b1, a0, a1, 1 / sp) if flip else (a0, a1, b0, b1, sp) for a0, a1, b0, b1, sp in f.segments]
            best = max(segs, key=lambda s: min(s[1], e.v_end) - max(s[0], e.v_start))
            if min(best[1], e.v_end) - max(best[0], e.v_start) <= 0:
                out[c.kind]["missing"].append(1.0)
                continue
            # speed here: source seconds per copy second
            out[c.kind]["start"] += [abs(best[0] - e.v_start), abs(best[2] - e.s_start)]
            out[c.kind]["end"] += [abs(best[1] - e.v_end), abs(best[3] - e.s_end)]
            out[c.kind]["speed_err"].append(abs(best[4] - e.speed) / e.speed)
            out[c.kind]["speed"].append(best[4])
            out[c.kind]["offset_err"].append(abs((best[2] - best[0] * best[4]) - (e.s_start - e.v_start * e.speed)))
    return out


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", help="more source videos or folders of them")
    parser.add_argument("--quick", action="store_true", help="fixture originals only, fewer edits")
    parser.add_argument("--no-defaults", action="store_true", help="only the sources given")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, help="keep the generated clips and the store in this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse clips generated by an earlier run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--baseline-bits", type=int, default=8, help="baseline distance threshold (bits of 64)")
    parser.add_argument("--cost-against", type=Path, metavar="CHECKOUT",
                        help="also measure the fingerprinting cost of the vidtrace in this folder (an older version)")
    args = parser.parse_args(argv)

    global FFMPEG
    settings = Settings.from_env()
    FFMPEG = ffmpeg_binary(settings)
    t0 = time.perf_counter()
    found_sources = find_sources(args.sources, not args.no_defaults, args.quick)
    if len(found_sources) < 2:
        parser.error("need at least two source videos")
    work = Path(tempfile.mkdtemp(prefix="vidtrace-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    videos = work / "videos"
    if videos.exists() and not args.reuse:
        shutil.rmtree(videos)
    try:
        # 1. sources, capped in length and re-encoded the same way
        sources, clips, jobs = [], [], []
        for name, path, copies in found_sources:
            target = videos / "source" / f"{name}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (args.reuse and target.is_file()):
                ffmpeg("-i", str(path), "-t", str(MAX_SOURCE_S), "-vf", f"scale={even('iw')}:{even('ih')}", *ENC, str(target))
            dur, w, h = probe(target)
            sources.append((name, target, dur, w, h))
            clips.append(Clip(name, "source", frozenset({name}), [], target))
            for copy in copies:
                jobs.append((Clip(f"{name}__real_{copy.stem}", "real_copy", frozenset({name})), ["-i", str(copy), *ENC]))
        for name, src, dur, *_ in list(sources):
            slides = make_slideshow(name, src, dur, videos, args.reuse)
            if slides is not None:
                clips.append(slides)
                jobs.append(slideshow_copy(slides))
        for i, (name, src, dur, w, h) in enumerate(sources):
            o = sources[(i + 1) % len(sources)]
            jobs += make_variants(name, src, dur, w, h, (o[0], o[1], o[2]), args.quick)
        jobs += make_negatives(sources)
        clips += generate(jobs, videos, args.workers, args.reuse)
        total_s = sum(probe(c.path)[0] for c in clips)
        print(f"{len(sources)} sources, {len(clips)} clips, {total_s:.0f} video-seconds; generated in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)  # fmt: skip

        # 2. fingerprinting cost, in this process, on the sources and two rescaled copies of each
        cost_set = [
            c for c in clips
            if c.kind in ("source", "downscale_360p", "upscale_1080p", "mirror") and not c.name.startswith(SLIDES)
        ]  # fmt: skip
        cpu_per_s, wall_per_s, cost_video_s = fingerprint_cost(cost_set, settings)
        other_cpu_per_s = other_version_cost(args.cost_against, cost_set) if args.cost_against else None

        # 3. ingest everything (fingerprint, index, match) into a fresh store
        store_dir = work / "store"
        if store_dir.exists():
            shutil.rmtree(store_dir)
        store = Store.open(StoreLocation.resolve(store_dir), create=True)
        t1 = time.perf_counter()
        summary = ingest(store, [videos], settings=settings, workers=args.workers)
        ingest_s = time.perf_counter() - t1
        found = our_pairs(store, clips)
        store.close()

        # 4. the baseline, from the same clips
        t2 = time.perf_counter()
        shares = baseline_pairs(clips, settings, args.workers, args.baseline_bits)
        baseline_s = time.perf_counter() - t2

        report(clips, found, shares, settings, args, summary, dict(
            cpu_per_s=cpu_per_s, wall_per_s=wall_per_s, cost_video_s=cost_video_s, ingest_s=ingest_s,
            baseline_s=baseline_s, total_s=time.perf_counter() - t0, video_s=total_s, other_cpu_per_s=other_cpu_per_s,
        ))  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(clips, found, shares, settings, args, summary, timing) -> None:
    ours = {k: f.score for k, f in found.items()}
    # Threshold sweeps: ours over the match score, the baseline over the share of matched frames.
    print("\n== threshold sweep (pooled recall over required edits / precision over pairs of different contents)")
    print(f"{'ours: min score':<22}{'recall':>8}{'precision':>11}{'false pairs':>13}")
    ours_pick = None
    for t in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
        _, pooled, precision, fp, diff, _ = evaluate(clips, ours, t)
        print(f"{t:<22.2f}{pooled:>8.3f}{precision:>11.3f}{fp:>8}/{diff}")
        if ours_pick is None and precision >= 0.99:
            ours_pick = t
    print(f"{'baseline: min share':<22}{'recall':>8}{'precision':>11}{'false pairs':>13}")
    base_pick = None
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        _, pooled, precision, fp, diff, _ = evaluate(clips, shares, t)
        print(f"{t:<22.2f}{pooled:>8.3f}{precision:>11.3f}{fp:>8}/{diff}")
        if base_pick is None and precision >= 0.99:
            base_pick = t
    ours_t = ours_pick if ours_pick is not None else 0.0
    base_t = base_pick if base_pick is not None else 0.8
    o_kind, o_pooled, o_prec, o_fp, diff, o_false = evaluate(clips, ours, ours_t)
    b_kind, b_pooled, b_prec, b_fp, _, _ = evaluate(clips, shares, base_t)
    errors = segment_errors(clips, found)

    print(f"\n== per edit: ours (min score {ours_t:.2f}) vs baseline (1 fps pHash bag of frames, "
          f"<= {args.baseline_bits} bits, min share {base_t:.2f})")  # fmt: skip
    print(f"{'edit':<22}{'n':>3}{'ours':>7}{'base':>7}{'start_err':>11}{'end_err':>9}{'speed':>8}")
    for kind in sorted(o_kind, key=lambda k: list(o_kind).index(k)):
        e = errors.get(kind, {})
        speed = f"{med(e.get('speed', [])):.3f}" if kind.startswith("speed") else ""
        mark = " (not required)" if kind in NOT_REQUIRED else ""
        print(f"{kind:<22}{len(o_kind[kind]):>3}{sum(o_kind[kind]) / len(o_kind[kind]):>7.2f}"
              f"{sum(b_kind[kind]) / len(b_kind[kind]):>7.2f}{med(e.get('start', [])):>11.2f}"
              f"{med(e.get('end', [])):>9.2f}{speed:>8}{mark}")  # fmt: skip
    starts = [x for e in errors.values() for x in e.get("start", [])]
    ends = [x for e in errors.values() for x in e.get("end", [])]
    worst = min((sum(v) / len(v), k) for k, v in o_kind.items() if k not in NOT_REQUIRED)
    print("\n== summary")
    print(f"ours:     pooled recall {o_pooled:.3f} (required edits), worst edit {worst[1]} {worst[0]:.2f}, "
          f"precision {o_prec:.3f} ({o_fp} of {diff} pairs of different contents matched)")  # fmt: skip
    print(f"baseline: pooled recall {b_pooled:.3f}, precision {b_prec:.3f} ({b_fp} of {diff} pairs matched)")
    print(f"segments: median start error {med(starts):.2f} s, median end error {med(ends):.2f} s "
          f"({len(starts) // 2} located segments)")  # fmt: skip
    sub = errors.get("subclip_40", {}).get("offset_err", [])
    print(f"sub-clips: offset error median {med(sub):.2f} s, max {max(sub, default=float('nan')):.2f} s")
    comp = [c for c in clips if c.kind == "compilation"]
    order = {c.name: i for i, c in enumerate(clips)}
    both = sum(all(key(c.name, e.source, order) in found for e in c.expected) for c in comp)
    print(f"compilations: {both} of {len(comp)} with both sources found")
    for kind in ("speed_0.9x", "speed_1.1x"):
        sp = errors.get(kind, {}).get("speed_err", [])
        print(f"{kind}: speed error median {med(sp) * 100:.1f} %, max {max(sp, default=float('nan')) * 100:.1f} %")
    print(f"fingerprint cost: {timing['cpu_per_s'] * 1000:.1f} ms CPU and {timing['wall_per_s'] * 1000:.1f} ms wall "
          f"per video-second ({timing['cost_video_s']:.0f} video-seconds, one process, ffmpeg included)")  # fmt: skip
    if timing.get("other_cpu_per_s"):
        other = timing["other_cpu_per_s"]
        print(f"fingerprint cost of {args.cost_against}: {other * 1000:.1f} ms CPU per video-second on the same clips; "
              f"this version costs {timing['cpu_per_s'] / other:.2f}x that")  # fmt: skip
    print(f"settings: sample_fps {settings.sample_fps:g}, max_distance_bits {settings.max_distance_bits}, "
          f"hash {defaults.HASH_ALGORITHM} v{defaults.HASH_VERSION}")  # fmt: skip
    print(f"time: ingest {timing['ingest_s']:.0f} s ({len(clips)} clips, {timing['video_s']:.0f} video-seconds), "
          f"baseline {timing['baseline_s']:.0f} s, total {timing['total_s']:.0f} s")  # fmt: skip
    if o_false:
        print("false pairs (ours): " + ", ".join(f"{a}~{b}" for a, b in o_false[:20]))
    if summary.failures:
        print("failed clips: " + ", ".join(f"{f.path}: {f.reason}" for f in summary.failures[:10]))
    if args.json:
        args.json.write_text(json.dumps({
            "ours": {"threshold": ours_t, "pooled_recall": o_pooled, "precision": o_prec,
                     "per_edit": {k: sum(v) / len(v) for k, v in o_kind.items()}},
            "baseline": {"threshold": base_t, "pooled_recall": b_pooled, "precision": b_prec,
                         "per_edit": {k: sum(v) / len(v) for k, v in b_kind.items()}},
            "segments": {"median_start_err_s": med(starts), "median_end_err_s": med(ends)},
            "timing": timing,
        }, indent=1))  # fmt: skip


FFMPEG = "ffmpeg"

if __name__ == "__main__":
    sys.exit(main())
