"""Robustness benchmark: does matching survive the edits real re-uploads go through?

Three classes of source, each with its own figures:

- `moving`: moving content: the project's fixture originals, `../shared/videos/` when present,
  and any file or folder given on the command line;
- `talking`: the real talking-head clips of `../shared/videos/talking-heads/` (a person talking
  to a fixed camera, still background), when present;
- `slideshow`: a slideshow of each moving source (its frames held for seconds, all slideshows
  with the same timing; 6 slides, and 3 slides) with a re-encoded copy.

Every source (cut to at most 16 s) gets edited copies made with ffmpeg in a temporary folder
(re-encodes, rescales, crops kept at their smaller size, padding, mirror, overlays, colour shifts,
speed changes, trims, intros, compilations, corner insets of several sizes over another source,
noise, rotation). Copies carry the source's sound, re-encoded as AAC, where the source has a
soundtrack. Talking heads also get a silent copy, a dub (their pictures with another talking
head's soundtrack) and their first and last thirds (which must match the source but not each
other). Negatives: different contents sharing an intro card, a logo, a static scene or black
frames; very short clips. Everything is ingested into a temporary store through
`vidtrace.scan.ingest`, and the benchmark prints, per class and pooled:

- recall per edit (the copy matched with its source by a match of kind "copy"), pooled recall,
  precision over pairs of different contents (pictures and soundtrack both unrelated) with the
  number of false pairs, and a sweep over the match score threshold;
- recall the other way round: each copy looked up in the store as `vidtrace lookup` of its file
  does (its stored fingerprint as the query, itself left out), per edit. Ingest matches each new
  video against those before it, so the figures above see each pair from one side only, the
  one the edit's name puts second; a user looks a suspect copy up;
- dub recall: the dub matched with its soundtrack's source as "same soundtrack" (and, apart, as a
  copy whose signals include the sound);
- segment boundary errors (median start/end error in seconds, both sides), sub-clip offsets,
  compilation sources, and the speed reported for sped-up copies;
- in the same run, a bag-of-frames baseline: 1 fps pHash of whole frames, a pair matches when a
  share of one video's frames has a match in the other within the distance threshold (no
  temporal check, no sound);
- the fingerprinting cost per video-second (CPU of Python and ffmpeg together), and the wall time.

    python benchmarks/robustness.py                    # all classes (about 25 minutes on 2 cores)
    python benchmarks/robustness.py --class talking    # one class (moving, talking, slideshow)
    python benchmarks/robustness.py --quick            # fewer sources and edits
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

# The vidtrace of this checkout, whatever the environment has installed: a benchmark run from a
# second checkout with the first one's environment measures its own code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
#: Real talking-head clips, each a different recording (every pair of them is a true non-match).
TALKING = SHARED / "talking-heads"
TALKING_CLIPS = ["d0", "d3", "d6", "d10", "d11", "d12", "d19"]
#: With --quick: two filmed alike (d10, d19), the longest (d6) and a short one, three with sound.
TALKING_QUICK = ["d6", "d10", "d12", "d19"]
MAX_SOURCE_S = 16.0
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
#: Edits a frame hash cannot be expected to survive; reported, not required.
NOT_REQUIRED = {"rotate_90"}
#: vidtrace reports no segment shorter than this (`MIN_SEGMENT_S`: a shared title card or a second
#: of black is not a copy), so a copy's part that shows less of a source (the 40% excerpt of a 3 s
#: clip) is not required of it; such parts are listed, and the pooled recall counting them printed.
SHORTEST_PART_S = defaults.MIN_SEGMENT_S
#: Clips' stretches of one source are measured to this (s: two hash steps) when deciding whether
#: they share enough of it to be one content.
SHARE_SLACK_S = 0.25
#: A segment whose two sides show moments of one source further apart than this (s) is misplaced:
#: a speed or an offset that far off, or two stretches of one recording taken for one.
MISPLACED_S = 1.0
#: Edits at the sizes re-posters use, several sizes each: crops kept at their smaller size,
#: corner insets over another source, centre crops (9:16 is `vertical_crop_9x16`).
REPOSTER_EDITS = ["crop_10_small", "crop_15_small", "crop_20_small", "inset_quarter", "inset_third", "inset_half",
                  "vertical_crop_9x16", "centre_crop_1x1"]  # fmt: skip
CLASSES = ["moving", "talking", "slideshow"]
#: A soundtrack whose loudest sample is below this is silence (a track is there, nothing is heard).
SILENCE_DB = -60.0
FONT = "DejaVu Sans"


@dataclass
class Expected:
    """`[v_start, v_end]` of the copy shows (or sounds) `[s_start, s_end]` of source `source` at
    `speed`; `timed` is False when the times are not known (real copies cut elsewhere)."""

    source: str
    v_start: float
    v_end: float
    s_start: float
    s_end: float
    speed: float = 1.0
    timed: bool = True


@dataclass
class Clip:
    name: str  # file stem, unique
    kind: str  # "source", an edit name, "real_copy" or "negative:<what>"
    contents: frozenset[str]  # the sources whose pictures it shows
    expected: list[Expected] = field(default_factory=list)  # what must be found, as a copy
    path: Path | None = None
    cls: str = "moving"  # the class it counts in
    sounds: frozenset[str] = frozenset()  # the sources whose (audible) soundtrack it carries
    #: soundtracks to be found as "same soundtrack" over other pictures (dubs)
    sound_expected: list[Expected] = field(default_factory=list)


@dataclass
class Source:
    name: str
    path: Path  # the cut, re-encoded source
    dur: float
    w: int
    h: int
    cls: str
    has_audio: bool = False  # an audio stream is there
    audible: bool = False  # and something can be heard in it


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


def probe_audio(path: Path) -> tuple[bool, bool]:
    """(has an audio stream, its loudest sample is above `SILENCE_DB`)."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0?", "-vn", "-af",
                           "volumedetect", "-f", "null", "-"], capture_output=True, text=True).stderr  # fmt: skip
    if not re.search(r"Stream #\S+.*Audio:", text):
        return False, False
    peak = re.search(r"max_volume: (-?[\d.]+|-inf) dB", text)
    return True, bool(peak) and peak.group(1) != "-inf" and float(peak.group(1)) > SILENCE_DB


VENC = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]
ENC = ["-an", *VENC]  # pictures only


def aenc(bitrate: str = "96k") -> list[str]:
    return ["-c:a", "aac", "-b:a", bitrate, "-ac", "2", "-ar", "44100"]


def vf_audio(src: Source, tempo: float | None = None, bitrate: str = "96k") -> list[str]:
    """Stream maps for a one-input `-vf` edit: its pictures, and its sound when it has one."""
    if not src.has_audio:
        return ["-map", "0:v:0", "-an"]
    return ["-map", "0:v:0", "-map", "0:a:0", *aenc(bitrate), *(["-af", f"atempo={tempo}"] if tempo else [])]


def fc_audio(src: Source, index: int) -> list[str]:
    """Stream map of the sound of input `index` (the source) for a `-filter_complex` edit."""
    return ["-map", f"{index}:a:0", *aenc()] if src.has_audio else ["-an"]


def find_sources(paths: list[str], use_defaults: bool, quick: bool, classes: set[str]):
    """(name, file, real copies of it, class) for every source."""
    found: list[tuple[str, Path, list[Path], str]] = []
    if use_defaults and classes & {"moving", "slideshow"}:
        for rel in FIXTURE_SOURCES:
            p = PROJECT / "fixtures" / "videos" / rel
            if p.is_file():
                found.append((p.stem, p, [], "moving"))
        if not quick and (SHARED / SHARED_SOURCE).is_file():
            copies = sorted(p for p in SHARED.glob("*.mp4") if p.name != SHARED_SOURCE)
            found.append(("pattern", SHARED / SHARED_SOURCE, copies, "moving"))
    if use_defaults and "talking" in classes:
        for stem in TALKING_QUICK if quick else TALKING_CLIPS:
            if (TALKING / f"{stem}.mp4").is_file():
                found.append((stem, TALKING / f"{stem}.mp4", [], "talking"))
    for given in paths:
        p = Path(given)
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS) if p.is_dir() else [p]
        for f in files:
            found.append((re.sub(r"\W+", "_", f.stem), f, [], "moving"))
    return found


# --- slideshows ------------------------------------------------------------------------------

#: Slideshow sources are named a prefix + the source's name: frames of the source `SLIDE_EVERY_S`
#: apart, each held `SLIDE_HOLD_S`, 6 of them (`SLIDES`) or 3 (`SLIDES3`); all with the same timing,
#: so the slideshows of different sources change slides at the same instants: a negative too.
SLIDES = "slides_"
SLIDES3 = "slides3_"
SLIDE_EVERY_S = 1
SLIDE_HOLD_S = 4
SLIDE_COUNTS = {SLIDES: 6, SLIDES3: 3}


def make_slideshow(src: Source, prefix: str, videos: Path, reuse: bool) -> Clip | None:
    """A slideshow of the source's frames, as a source of its own (it shows the source's pictures)."""
    count = min(SLIDE_COUNTS[prefix], int(src.dur // SLIDE_EVERY_S))
    if count < 3:
        return None
    target = videos / "source" / f"{prefix}{src.name}.mp4"
    if not (reuse and target.is_file()):
        ffmpeg("-i", str(src.path), "-vf",
               f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{SLIDE_EVERY_S})',setpts=N*{SLIDE_HOLD_S}/TB,fps=25",
               "-frames:v", str(count * SLIDE_HOLD_S * 25), *ENC, str(target))  # fmt: skip
    name = f"{prefix}{src.name}"
    return Clip(name, "source", frozenset({name, src.name}), [], target, cls="slideshow")


def slideshow_copy(slides: Clip) -> tuple[Clip, list[str]]:
    """The slideshow re-encoded at 360p, a little brighter: it must match the slideshow, whole."""
    dur = probe(slides.path)[0]
    kind = "slideshow" if slides.name.startswith(SLIDES) else "slideshow_3"
    clip = Clip(
        f"{slides.name}__{kind}", kind, slides.contents, [Expected(slides.name, 0.0, dur, 0.0, dur)], cls="slideshow"
    )
    return clip, ["-i", str(slides.path), "-vf", "scale=-2:360,eq=brightness=0.05", *ENC]


# --- the edits ------------------------------------------------------------------------------


def even(expr: str) -> str:
    return f"trunc(({expr})/2)*2"


def make_variants(src: Source, other: Source, quick: bool):
    """(clip, ffmpeg args) for every edit of one source; `other` is a second source (same class) for mixes."""
    name, path, dur, w, h = src.name, str(src.path), src.dur, src.w, src.h
    landscape = w >= h
    own_sound = frozenset({name}) if src.audible else frozenset()
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

    def add(kind: str, args: list[str], expected=None, contents=None, sounds=None):
        clip = Clip(f"{name}__{kind}", kind, contents or frozenset({name}), expected if expected is not None else full,
                    cls=src.cls, sounds=own_sound if sounds is None else sounds)  # fmt: skip
        v.append((clip, args))

    def simple(kind: str, vf: str, expected=None, pre: list[str] | None = None, tempo=None, bitrate="96k", venc=None):
        add(kind, ["-i", path, "-vf", vf, *vf_audio(src, tempo, bitrate), *(pre or []), *(venc or VENC)], expected)

    simple("reencode_low_bitrate", "null", bitrate="32k",
           venc=["-c:v", "libx264", "-preset", "veryfast", "-b:v", "100k", "-maxrate", "100k", "-bufsize", "200k",
                 "-pix_fmt", "yuv420p"])  # fmt: skip
    simple("downscale_360p", short_side.format(360))
    simple("upscale_1080p", short_side.format(1080))
    simple("vertical_crop_9x16", reframe_crop)
    if abs(w / h - 1) > 0.05:  # the centre square (a square source would be unchanged)
        simple("centre_crop_1x1", "crop=ih:ih" if landscape else "crop=iw:iw")
    for pct in (10, 15, 20):  # pct % off every side, kept at the smaller size (no upscale)
        keep = 1 - 2 * pct / 100
        simple(f"crop_{pct}_small", f"crop={even(f'iw*{keep:.2f}')}:{even(f'ih*{keep:.2f}')}")
    simple("letterbox_black", f"pad=iw:{even('ih*1.6')}:0:(oh-ih)/2:black")
    simple("pillarbox_black", f"pad={even('iw*1.6')}:ih:(ow-iw)/2:0:black")
    simple("pad_coloured", f"pad={even('iw*1.5')}:{even('ih*1.2')}:(ow-iw)/2:(oh-ih)/2:0x3050a0")
    add("blurred_background", ["-i", path, "-filter_complex",
                               f"[0:v]split[a][b];[a]{fill}[bg];[b]{fit}[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2",
                               *fc_audio(src, 0), *VENC])  # fmt: skip
    simple("mirror", "hflip")
    simple("mirror_crop_15_small", f"hflip,crop={even('iw*0.70')}:{even('ih*0.70')}")  # flipped and cropped
    simple("border_crop_15", f"crop={even('iw*0.85')}:{even('ih*0.85')},scale={w}:{h}")
    add("corner_logo", ["-i", path, "-f", "lavfi", "-i", logo, "-filter_complex",
                        f"[1:v]loop=-1:1,scale=iw*0.18*{w}/160:-2[l];[0:v][l]overlay=W-w-W*0.04:H*0.04:shortest=1",
                        *fc_audio(src, 0), *VENC])  # fmt: skip
    simple("caption", caption)
    simple("brightness", "eq=brightness=0.15")
    simple("contrast", "eq=contrast=1.5")
    simple("saturation", "eq=saturation=2.5")
    simple("greyscale", "hue=s=0")
    simple("sepia", sepia)
    for speed in (0.9, 1.1):
        simple(
            f"speed_{speed}x", f"setpts=PTS/{speed}", [Expected(name, 0.0, dur / speed, 0.0, dur, speed)], tempo=speed
        )
    simple("fps_15", "fps=15")
    start, length = round(0.3 * dur, 2), round(0.4 * dur, 2)
    simple(
        "subclip_40",
        "null",
        [Expected(name, 0.0, length, start, start + length)],
        pre=["-ss", str(start), "-t", str(length)],
    )
    # intro card (3 s) and outro card (2 s) around the whole clip; the sound starts with the clip
    sound = (
        ["-filter_complex", "[1:a]adelay=delays=3000:all=1[aout]", "-map", "[aout]", *aenc()]
        if src.has_audio
        else ["-an"]
    )
    add("intro_outro", ["-f", "lavfi", "-i", card.format(w=w, h=h, d=3), "-i", path,
                        "-f", "lavfi", "-i", card.format(w=w, h=h, d=2), "-filter_complex",
                        "[1:v]fps=25,format=yuv420p,setsar=1[m];[0:v]setsar=1[i];[2:v]setsar=1[o];[i][m][o]concat=n=3:v=1:a=0[vout]",
                        "-map", "[vout]", *sound, *VENC],
        [Expected(name, 3.0, 3.0 + dur, 0.0, dur)])  # fmt: skip
    # compilation: 40% of this source, then 40% of the other (with their sounds, silence for none)
    a0, a1 = round(0.1 * dur, 2), round(0.5 * dur, 2)
    b0, b1 = round(0.3 * other.dur, 2), round(0.7 * other.dur, 2)
    la, lb = round(a1 - a0, 2), round(b1 - b0, 2)
    graph = (f"[0:v]trim={a0}:{a1},setpts=PTS-STARTPTS,fps=25,setsar=1[a];"
             f"[1:v]trim={b0}:{b1},setpts=PTS-STARTPTS,fps=25,scale={w}:{h}:force_original_aspect_ratio=decrease,"
             f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1[b];[a][b]concat=n=2:v=1:a=0")  # fmt: skip
    maps = ["-an"]
    if src.has_audio or other.has_audio:
        part = "[{i}:a]atrim={t0}:{t1},asetpts=PTS-STARTPTS,aresample=44100,aformat=channel_layouts=stereo[{o}]"
        silence = "anullsrc=r=44100:cl=stereo,atrim=0:{n}[{o}]"
        graph += ";" + (part.format(i=0, t0=a0, t1=a1, o="xa") if src.has_audio else silence.format(n=la, o="xa"))
        graph += ";" + (part.format(i=1, t0=b0, t1=b1, o="xb") if other.has_audio else silence.format(n=lb, o="xb"))
        graph += ";[xa][xb]concat=n=2:v=0:a=1[aout]"
        maps = ["-map", "[aout]", *aenc()]
    add("compilation", ["-i", path, "-i", str(other.path), "-filter_complex", graph, *maps, *VENC],
        [Expected(name, 0.0, la, a0, a1), Expected(other.name, la, la + lb, b0, b1)], frozenset({name, other.name}),
        own_sound | (frozenset({other.name}) if other.audible else frozenset()))  # fmt: skip

    # this source small over the other one (looped), with this source's sound
    def inset(kind: str, share: float, x: str, y: str):
        add(kind, ["-stream_loop", "-1", "-i", str(other.path), "-i", path, "-filter_complex",
                   f"[0:v]scale={w}:{h},setsar=1[host];[1:v]scale={even(f'iw*{share:.4f}')}:-2,setsar=1[pip];"
                   f"[host][pip]overlay={x}:{y}:shortest=1",
                   *fc_audio(src, 1), "-t", f"{dur:.2f}", *VENC], contents=frozenset({name, other.name}))  # fmt: skip

    inset("picture_in_picture", 0.4, "W*0.05", "H*0.05")
    inset("inset_quarter", 0.25, "W-w-W*0.03", "H*0.03")  # top right
    inset("inset_third", 1 / 3, "W-w-W*0.03", "H-h-H*0.03")  # bottom right
    inset("inset_half", 0.5, "W*0.03", "H-h-H*0.03")  # bottom left
    simple("noise", "noise=alls=25:allf=t+u")
    simple("rotate_90", "transpose=1")
    if quick:
        keep = {"reencode_low_bitrate", "vertical_crop_9x16", "pillarbox_black", "blurred_background", "mirror",
                "border_crop_15", "caption", "speed_1.1x", "subclip_40", "intro_outro", "compilation",
                "picture_in_picture", "rotate_90", *REPOSTER_EDITS}  # fmt: skip
        v = [(c, a) for c, a in v if c.kind in keep]
    return v


def talking_extras(src: Source, donor: Source | None):
    """A silent copy, a dub (these pictures with the donor's soundtrack) and the first and last thirds."""
    name, path, dur = src.name, str(src.path), src.dur
    full = [Expected(name, 0.0, dur, 0.0, dur)]
    out: list[tuple[Clip, list[str]]] = []
    out.append((Clip(f"{name}__silent_copy", "silent_copy", frozenset({name}), full, cls=src.cls),
                ["-i", path, "-map", "0:v:0", "-an", *VENC]))  # fmt: skip
    if donor is not None:
        heard = round(min(dur, donor.dur), 2)
        clip = Clip(f"{name}__dub", "dub", frozenset({name}), full, cls=src.cls, sounds=frozenset({donor.name}),
                    sound_expected=[Expected(donor.name, 0.0, heard, 0.0, heard)])  # fmt: skip
        out.append((clip, ["-i", path, "-i", str(donor.path), "-map", "0:v:0", "-map", "1:a:0", *aenc(),
                           "-t", f"{dur:.2f}", *VENC]))  # fmt: skip
    if dur >= 9.0:  # thirds of at least 3 s
        third = round(dur / 3, 2)
        own = frozenset({name}) if src.audible else frozenset()
        for kind, t0 in (("first_third", 0.0), ("last_third", round(dur - third, 2))):
            clip = Clip(f"{name}__{kind}", kind, frozenset({name}), [Expected(name, 0.0, third, t0, t0 + third)],
                        cls=src.cls, sounds=own)  # fmt: skip
            out.append((clip, ["-i", path, *vf_audio(src), "-ss", str(t0), "-t", str(third), *VENC]))
    return out


def make_negatives(sources: list[Source]):
    """Different contents sharing an intro, a logo, a static scene or black frames; very short clips."""
    out: list[tuple[Clip, list[str]]] = []
    for s in sources:
        name, src, dur = s.name, s.path, s.dur
        part0 = round(max(0.0, dur / 2 - 3), 2)
        part = f"[0:v]trim={part0}:{part0 + 6},setpts=PTS-STARTPTS,fps=25,scale=480:360,setsar=1"
        card = "smptehdbars=s=480x360:d=3:r=25,drawbox=x=40:y=140:w=400:h=80:color=white:t=fill,format=yuv420p,setsar=1"
        black = "color=c=black:s=480x360:d={d}:r=25,format=yuv420p,setsar=1"
        scene = "testsrc2=s=480x360:r=25:d=0.04,loop=150:1,noise=alls=5:allf=t,format=yuv420p,setsar=1"

        def neg(what: str, inputs: list[str], graph: str, extra: list[str] | None = None):
            clip = Clip(f"neg_{what}__{name}", f"negative:{what}", frozenset({name}), cls=s.cls)  # noqa: B023 (called in this iteration)
            out.append((clip, ["-i", str(src), *inputs, "-filter_complex", graph, *(extra or []), *ENC]))  # noqa: B023

        neg("black_intro", ["-f", "lavfi", "-i", black.format(d=3)], f"{part}[p];[1:v][p]concat=n=2:v=1:a=0")
        neg("title_card_intro", ["-f", "lavfi", "-i", card], f"{part}[p];[1:v][p]concat=n=2:v=1:a=0")
        neg("static_logo", ["-f", "lavfi", "-i", "smptebars=s=200x150:d=1,format=yuv420p"],
            f"{part}[p];[1:v]loop=-1:1[l];[p][l]overlay=20:20:shortest=1")  # fmt: skip
        neg(
            "static_scene",
            ["-f", "lavfi", "-i", scene],
            f"{part}[p];[1:v]setpts=PTS-STARTPTS[s];[s][p]concat=n=2:v=1:a=0",
        )
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
    for frame in decode(path, Settings(), sample_fps=1.0):
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
    n = len(clips)
    # hit_any[f, j]: frame f has a near frame in clip j (rows in chunks: the distance matrix is large)
    hit_any = np.zeros((len(allcodes), n), dtype=bool)
    for r0 in range(0, len(allcodes), 512):
        near = hamming_matrix(allcodes[r0 : r0 + 512], allcodes) <= max_bits
        for j in range(n):
            hit_any[r0 : r0 + 512, j] = near[:, owner == j].any(axis=1)
    counts = np.zeros((n, n))
    for i in range(n):
        counts[i] = hit_any[owner == i].sum(axis=0) / max(1, (owner == i).sum())
    shares: dict[tuple[str, str], float] = {}
    for i in range(n):
        for j in range(i + 1, n):
            shares[(clips[i].name, clips[j].name)] = float(max(counts[i, j], counts[j, i]))
    return shares


@dataclass
class Found:
    """What the store holds for one pair of clips: the best score of each kind of match."""

    copy: float = -1.0  # a match of kind "copy"
    sound: float = -1.0  # a match of kind "same soundtrack"
    signals: set[str] = field(default_factory=set)  # the signals of its copy matches
    # seen from the first name: (a0, a1, b0, b1, speed), of the copy match (else the soundtrack match)
    segments: list[tuple[float, float, float, float, float]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return max(self.copy, self.sound)


def is_soundtrack_kind(kind: str) -> bool:
    return kind != "copy" and "sound" in kind.lower()


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
            kind = str(getattr(m, "kind", "copy") or "copy")
            signals = {str(s) for s in (getattr(m, "signals", ("pictures",)) or ("pictures",))}
            segs = [(s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s, s.speed) for s in m.segments]
            if order[a] > order[b]:
                a, b = b, a
                segs = [(b0, b1, a0, a1, round(1 / sp, 4)) for a0, a1, b0, b1, sp in segs]
            f = out.setdefault((a, b), Found())
            if is_soundtrack_kind(kind):
                f.sound = max(f.sound, m.score)
                f.segments = f.segments or segs
            else:
                if m.score > f.copy:
                    f.segments = segs
                f.copy = max(f.copy, m.score)
                f.signals |= signals
    return out


def lookup_pairs(store: Store, clips: list[Clip], settings: Settings) -> tuple[dict[tuple[str, str], float], float]:
    """Every copy looked up in the store, as `vidtrace lookup` of its file does (its stored
    fingerprint as the query, every signal, itself left out): (copy, other clip) -> the best score
    of a match of kind "copy". Ingest matches each new video against the ones before it, so the
    pairs above are found in one direction only, which the edit's name decides; a user looks a
    suspect copy up. Also the seconds the lookups took."""
    from vidtrace import signals

    by_path = {str(c.path.absolute()): c for c in clips}
    out: dict[tuple[str, str], float] = {}
    t0 = time.perf_counter()
    with store.session() as session:
        ids = repo.ok_video_ids(session)
        names = {
            vid: by_path.get(str(Path(ups[0].path).absolute()))
            for vid, ups in repo.uploads_of_videos(session, ids).items()
        }
        durations = {vid: v.duration_s or 0.0 for vid, v in repo.videos_by_id(session, ids).items()}
        indexes = signals.open_indexes(store, saved=())
        for vid, clip in names.items():
            if clip is None or clip.kind == "source" or clip.kind.startswith("negative") or not clip.expected:
                continue
            queries = {s.name: s.stored_query(session, vid) for s in signals.SIGNALS}
            for m in signals.match_video(session, indexes, queries, durations[vid], settings,
                                         accept=lambda other, me=vid: other.id != me):  # fmt: skip
                other = names.get(m.video_id)
                if other is not None and not is_soundtrack_kind(m.kind):
                    k = (clip.name, other.name)
                    out[k] = max(out.get(k, -1.0), m.alignment.score)
        session.rollback()
    return out, time.perf_counter() - t0


def as_pairs(looked: dict[tuple[str, str], float], order: dict[str, int]) -> dict[tuple[str, str], float]:
    """Lookup scores by the pair's `key`, as `evaluate` reads them (the better of the two
    directions where both clips were looked up; a source never is)."""
    out: dict[tuple[str, str], float] = {}
    for (a, b), score in looked.items():
        k = key(a, b, order)
        out[k] = max(out.get(k, -1.0), score)
    return out


def missed(inside: list[Clip], kind: str, copy: dict, threshold: float, order: dict[str, int]) -> list[str]:
    """The sources of the copies of one edit not matched with every required part's source."""
    return [c.name.split("__")[0] for c in inside if c.kind == kind and (parts := required_parts(c)) and not all(
        copy.get(key(c.name, x.source, order), -1) >= threshold for x in parts)]  # fmt: skip


def key(a: str, b: str, order: dict[str, int]) -> tuple[str, str]:
    return (a, b) if order[a] < order[b] else (b, a)


# --- what is related to what ----------------------------------------------------------------


def span(clip: Clip, source: str) -> tuple[float, float] | None:
    """The stretch of `source` (its seconds) that the clip shows or sounds; None: all of it, or not known."""
    known = [e for e in clip.expected + clip.sound_expected if e.source == source and e.timed]
    if not known:
        return None
    return min(e.s_start for e in known), max(e.s_end for e in known)


def share(a: Clip, b: Clip, names: frozenset[str]) -> bool:
    """Do the two clips hold a common stretch of one of these sources long enough to be a match:
    `SHORTEST_PART_S`, or all of the shorter of their stretches when that is shorter (within
    `SHARE_SLACK_S`)? Stretches of one recording that overlap by less are different contents: the
    first and last thirds of a clip, or a 40% excerpt and a third that share a few tenths of a
    second."""
    for src in names:
        sa, sb = span(a, src), span(b, src)
        if sa is None or sb is None:
            return True
        common = min(sa[1], sb[1]) - max(sa[0], sb[0])
        shorter = min(sa[1] - sa[0], sb[1] - sb[0])
        if common > 0 and common >= min(SHORTEST_PART_S, shorter) - SHARE_SLACK_S:
            return True
    return False


@dataclass
class Relations:
    """For every pair of clips (by key): do they share pictures, a soundtrack?"""

    pictures: dict[tuple[str, str], bool]
    sound: dict[tuple[str, str], bool]

    @classmethod
    def of(cls, clips: list[Clip]) -> Relations:
        pictures, sound = {}, {}
        for i, a in enumerate(clips):
            for b in clips[i + 1 :]:
                k = (a.name, b.name)
                common = a.contents & b.contents
                pictures[k] = bool(common) and share(a, b, common)
                common = a.sounds & b.sounds
                sound[k] = bool(common) and share(a, b, common)
        return cls(pictures, sound)

    def related(self, k: tuple[str, str]) -> bool:
        return self.pictures[k] or self.sound[k]


def part_s(e: Expected) -> float:
    """How long a copy's part shows its source, in the shorter of the two videos' seconds."""
    return min(e.v_end - e.v_start, e.s_end - e.s_start)


def too_short(e: Expected) -> bool:
    """Whether a part shows less of its source than any segment vidtrace reports."""
    return e.timed and part_s(e) < SHORTEST_PART_S


def required_parts(c: Clip, short_too: bool = False) -> list[Expected]:
    """The parts of a copy that must be found: those showing at least `SHORTEST_PART_S` of their
    source (all of them with `short_too`; parts of unknown times always)."""
    return [e for e in c.expected if short_too or not too_short(e)]


def evaluate(
    clips: list[Clip], rel: Relations, copy: dict, any_kind: dict, threshold: float, members=None, short_too=False
):
    """Per-kind recall (found by a copy match, over `required_parts`), pooled recall (required
    kinds) and precision over the pairs of different contents (any kind of match); over the clips
    in `members` (None: all)."""
    order = {c.name: i for i, c in enumerate(clips)}
    inside = [c for c in clips if members is None or c.name in members]
    per_kind: dict[str, list[bool]] = defaultdict(list)
    for c in inside:
        parts = required_parts(c, short_too)
        if c.kind == "source" or c.kind.startswith("negative") or not parts:
            continue
        ok = all(copy.get(key(c.name, e.source, order), -1) >= threshold for e in parts)
        per_kind[c.kind].append(ok)
    true_pos = false_pos = different = 0
    false_pairs = []
    for i, a in enumerate(inside):
        for b in inside[i + 1 :]:
            k = key(a.name, b.name, order)
            related = rel.related(k)
            hit = any_kind.get(k, -1) >= threshold
            different += not related
            if hit and related:
                true_pos += 1
            elif hit:
                false_pos += 1
                false_pairs.append(k)
    required = [ok for kind, oks in per_kind.items() if kind not in NOT_REQUIRED for ok in oks]
    pooled = sum(required) / max(1, len(required))
    precision = true_pos / max(1, true_pos + false_pos)
    return per_kind, pooled, precision, false_pos, different, false_pairs


def segment_errors(clips: list[Clip], found: dict[tuple[str, str], Found]):
    """Per kind: start errors, end errors (both sides, seconds) and reported speeds, of copy matches."""
    order = {c.name: i for i, c in enumerate(clips)}
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in clips:
        for e in c.expected:
            k = key(c.name, e.source, order)
            f = found.get(k)
            if f is None or f.copy < 0 or not e.timed or not f.segments:
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
            if e.speed == 1.0:  # a copy played at its source's speed: reported at 1, or labelled wrongly
                out[c.kind]["false_speed"].append(float(abs(best[4] - 1.0) > 1e-6))
    return out


def source_time(clip: Clip, t: float) -> tuple[str, float] | None:
    """(source, its second) that second `t` of the clip shows, when known."""
    if clip.kind == "source":
        return clip.name, t
    for e in clip.expected:
        if e.timed and e.v_start <= t <= e.v_end:
            return e.source, e.s_start + (t - e.v_start) * e.speed
    return None


def misplaced_segments(clips: list[Clip], found: dict[tuple[str, str], Found]) -> tuple[int, int, list[str]]:
    """Segments of copy matches between two clips of one source, both sides' middles at known
    seconds of it: how many put them more than `MISPLACED_S` apart (two moments of one recording
    taken for one), of how many, and which pairs."""
    by_name = {c.name: c for c in clips}
    bad, total, pairs = 0, 0, []
    for (a, b), f in sorted(found.items()):
        if f.copy < 0:
            continue
        for a0, a1, b0, b1, _ in f.segments:
            sa, sb = source_time(by_name[a], (a0 + a1) / 2), source_time(by_name[b], (b0 + b1) / 2)
            if sa is None or sb is None or sa[0] != sb[0]:
                continue
            total += 1
            if abs(sa[1] - sb[1]) > MISPLACED_S:
                bad += 1
                pairs.append(f"{a}~{b} ({sa[1]:.1f} s vs {sb[1]:.1f} s of {sa[0]})")
    return bad, total, pairs


def code_version() -> str:
    """The folder of the vidtrace measured, its commit, and whether its files differ from it."""
    folder = Path(defaults.__file__).resolve().parent.parent
    git = ["git", "-C", str(folder)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "vidtrace"], capture_output=True, text=True
    ).stdout.strip()
    return f"{folder} at commit {head or '?'}" + (" with uncommitted changes to vidtrace/" if dirty else "")


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rate(oks: list[bool]) -> float:
    return sum(oks) / len(oks) if oks else float("nan")


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sources", nargs="*", help="more source videos or folders of them (class moving)")
    parser.add_argument("--class", dest="classes", action="append", choices=["all", *CLASSES],
                        help="the class(es) to run (repeatable; default all)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="fixture originals and 4 talking heads only, fewer edits")  # fmt: skip
    parser.add_argument("--no-defaults", action="store_true", help="only the sources given")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, help="keep the generated clips and the store in this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse clips generated by an earlier run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--baseline-bits", type=int, default=8, help="baseline distance threshold (bits of 64)")
    parser.add_argument(
        "--cost-against",
        type=Path,
        metavar="CHECKOUT",
        help="also measure the fingerprinting cost of the vidtrace in this folder (an older version)",
    )
    args = parser.parse_args(argv)
    classes = set(CLASSES) if not args.classes or "all" in args.classes else set(args.classes)

    global FFMPEG
    settings = Settings.from_env()
    FFMPEG = ffmpeg_binary(settings)
    t0 = time.perf_counter()
    found_sources = find_sources(args.sources, not args.no_defaults, args.quick, classes)
    if len(found_sources) < 2:
        parser.error("need at least two source videos")
    work = Path(tempfile.mkdtemp(prefix="vidtrace-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    videos = work / "videos"
    if videos.exists() and not args.reuse:
        shutil.rmtree(videos)
    try:
        # 1. sources, capped in length and re-encoded the same way (sound kept, as AAC)
        sources: list[Source] = []
        clips: list[Clip] = []
        jobs: list[tuple[Clip, list[str]]] = []
        for name, path, copies, cls in found_sources:
            target = videos / "source" / f"{name}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (args.reuse and target.is_file()):
                ffmpeg("-i", str(path), "-t", str(MAX_SOURCE_S), "-vf", f"scale={even('iw')}:{even('ih')}",
                       "-map", "0:v:0", "-map", "0:a:0?", *aenc(), *VENC, str(target))  # fmt: skip
            dur, w, h = probe(target)
            has_audio, audible = probe_audio(target)
            src = Source(name, target, dur, w, h, cls, has_audio, audible)
            sources.append(src)
            clips.append(Clip(name, "source", frozenset({name}), [], target, cls=cls,
                              sounds=frozenset({name}) if audible else frozenset()))  # fmt: skip
            if cls in classes:
                for copy in copies:
                    clip = Clip(f"{name}__real_{copy.stem}", "real_copy", frozenset({name}),
                                [Expected(name, 0.0, 0.0, 0.0, 0.0, timed=False)], cls=cls, sounds=clips[-1].sounds)  # fmt: skip
                    jobs.append((clip, ["-i", str(copy), "-map", "0:v:0", "-map", "0:a:0?", *aenc(), *VENC]))
        heard = {(True, True): "sound", (True, False): "silent track", (False, False): "no sound"}
        print("sources: " + ", ".join(f"{s.name} ({s.cls}, {s.dur:.1f} s, {s.w}x{s.h}, {heard[s.has_audio, s.audible]})"
                                      for s in sources), file=sys.stderr)  # fmt: skip
        if "slideshow" in classes:
            for src in [s for s in sources if s.cls == "moving"]:
                for prefix in (SLIDES, SLIDES3):
                    slides = make_slideshow(src, prefix, videos, args.reuse)
                    if slides is not None:
                        clips.append(slides)
                        jobs.append(slideshow_copy(slides))
        edited: list[Source] = []
        for cls in ("moving", "talking"):
            group = [s for s in sources if s.cls == cls]
            if cls not in classes or len(group) < 2:
                continue
            edited += group
            donors = [s for s in group if s.audible]
            for i, src in enumerate(group):
                jobs += make_variants(src, group[(i + 1) % len(group)], args.quick)
                if cls == "talking":
                    others = [d for d in donors if d.name != src.name]
                    donor = others[i % len(others)] if others else None
                    jobs += talking_extras(src, donor)
        jobs += make_negatives(edited)
        clips += generate(jobs, videos, args.workers, args.reuse)
        total_s = sum(probe(c.path)[0] for c in clips)
        print(f"{len(sources)} sources, {len(clips)} clips, {total_s:.0f} video-seconds; generated in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)  # fmt: skip

        # 2. fingerprinting cost, in this process, on the sources and three copies of each
        cost_set = [
            c for c in clips
            if c.kind in ("source", "downscale_360p", "upscale_1080p", "mirror") and c.cls != "slideshow"
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
        looked, lookup_s = lookup_pairs(store, clips, settings)
        store.close()

        # 4. the baseline, from the same clips
        t2 = time.perf_counter()
        shares = baseline_pairs(clips, settings, args.workers, args.baseline_bits)
        baseline_s = time.perf_counter() - t2

        report(clips, found, shares, settings, args, summary, classes, looked, dict(
            cpu_per_s=cpu_per_s, wall_per_s=wall_per_s, cost_video_s=cost_video_s, ingest_s=ingest_s, lookup_s=lookup_s,
            baseline_s=baseline_s, total_s=time.perf_counter() - t0, video_s=total_s, other_cpu_per_s=other_cpu_per_s,
        ))  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def class_report(cls, clips, rel, found, shares, ours_t, base_t, errors, looked) -> dict | None:
    """Print one class's figures (ours and the baseline side by side); returns them."""
    members = {c.name for c in clips if c.cls == cls}
    inside = [c for c in clips if c.name in members]
    if not any(c.kind not in ("source",) and not c.kind.startswith("negative") for c in inside):
        return None
    order = {c.name: i for i, c in enumerate(clips)}
    copy = {k: f.copy for k, f in found.items()}
    any_kind = {k: f.score for k, f in found.items()}
    o_kind, o_pooled, o_prec, o_fp, diff, o_false = evaluate(clips, rel, copy, any_kind, ours_t, members)
    b_kind, b_pooled, b_prec, b_fp, _, b_false = evaluate(clips, rel, shares, shares, base_t, members)
    n_src = sum(c.kind == "source" for c in inside)
    print(f"\n== class {cls}: {n_src} sources, {len(inside)} clips "
          f"(ours: min score {ours_t:.2f}, copy matches; baseline: min share {base_t:.2f})")  # fmt: skip
    print(f"{'edit':<22}{'n':>3}{'ours':>7}{'base':>7}{'start_err':>11}{'end_err':>9}{'speed':>8}  missed (ours)")
    for kind in o_kind:
        e = errors.get((cls, kind), {})
        speed = f"{med(e.get('speed', [])):.3f}" if kind.startswith("speed") else ""
        mark = " (not required)" if kind in NOT_REQUIRED else ""
        print(f"{kind:<22}{len(o_kind[kind]):>3}{rate(o_kind[kind]):>7.2f}{rate(b_kind[kind]):>7.2f}"
              f"{med(e.get('start', [])):>11.2f}{med(e.get('end', [])):>9.2f}{speed:>8}{mark}"
              f"  {' '.join(missed(inside, kind, copy, ours_t, order))}")  # fmt: skip
    repost_o = [ok for k in REPOSTER_EDITS for ok in o_kind.get(k, [])]
    repost_b = [ok for k in REPOSTER_EDITS for ok in b_kind.get(k, [])]
    required = [k for k in o_kind if k not in NOT_REQUIRED]
    worst = min(((rate(o_kind[k]), k) for k in required), default=(float("nan"), "-"))
    out = dict(clips=len(inside), sources=n_src, threshold=ours_t,
               ours=dict(pooled_recall=o_pooled, precision=o_prec, false_pairs=o_fp, different_pairs=diff,
                         reposter_recall=rate(repost_o), per_edit={k: rate(v) for k, v in o_kind.items()},
                         worst_edit=worst[1], worst_recall=worst[0]),
               baseline=dict(pooled_recall=b_pooled, precision=b_prec, false_pairs=b_fp, reposter_recall=rate(repost_b),
                             per_edit={k: rate(v) for k, v in b_kind.items()}))  # fmt: skip
    print(
        f"pooled recall (required edits): ours {o_pooled:.3f} (worst {worst[1]} {worst[0]:.2f}), baseline {b_pooled:.3f}"
    )
    short = [f"{c.name} ({e.source} {part_s(e):.1f} s)" for c in inside
             if c.kind not in NOT_REQUIRED for e in c.expected if too_short(e)]  # fmt: skip
    if short:
        _, o_all, *_ = evaluate(clips, rel, copy, any_kind, ours_t, members, short_too=True)
        _, b_all, *_ = evaluate(clips, rel, shares, shares, base_t, members, short_too=True)
        out["ours"]["pooled_recall_short_too"], out["baseline"]["pooled_recall_short_too"] = o_all, b_all
        print(f"parts shorter than the shortest segment reported ({SHORTEST_PART_S} s), not required: {', '.join(short)}; "
              f"pooled recall counting them: ours {o_all:.3f}, baseline {b_all:.3f}")  # fmt: skip
    by_lookup = as_pairs(looked, order)
    l_kind, l_pooled, *_ = evaluate(clips, rel, by_lookup, by_lookup, ours_t, members)
    l_missed = {k: missed(inside, k, by_lookup, ours_t, order) for k in l_kind}
    l_repost = [ok for k in REPOSTER_EDITS for ok in l_kind.get(k, [])]
    low = [
        f"{k} {rate(v):.2f} ({' '.join(l_missed[k])})"
        for k, v in l_kind.items()
        if k not in NOT_REQUIRED and rate(v) < 0.9
    ]
    print(f"each copy looked up (lookup of the copy; above, ingest's direction): pooled recall {l_pooled:.3f}, "
          f"re-poster-sized edits {rate(l_repost):.3f}; under 0.90: {', '.join(low) or 'none'}")  # fmt: skip
    out["ours"]["lookup"] = dict(pooled_recall=l_pooled, reposter_recall=rate(l_repost),
                                 per_edit={k: rate(v) for k, v in l_kind.items()},
                                 missed={k: v for k, v in l_missed.items() if v})  # fmt: skip
    if repost_o:
        print(f"re-poster-sized edits ({', '.join(k for k in REPOSTER_EDITS if k in o_kind)}): "
              f"ours {rate(repost_o):.3f}, baseline {rate(repost_b):.3f} ({len(repost_o)} copies)")  # fmt: skip
    print(f"precision (pairs within the class): ours {o_prec:.3f} ({o_fp} of {diff} pairs of different contents matched), "
          f"baseline {b_prec:.3f} ({b_fp} of {diff})")  # fmt: skip
    # hard negatives: first against last third of one clip; different sources (filmed alike)
    thirds = [(c.name.split("__")[0]) for c in inside if c.kind == "first_third"]
    third_pairs = [key(f"{s}__first_third", f"{s}__last_third", order) for s in thirds
                   if f"{s}__last_third" in members]  # fmt: skip
    srcs = [c.name for c in inside if c.kind == "source"]
    src_pairs = [
        key(a, b, order) for i, a in enumerate(srcs) for b in srcs[i + 1 :] if not rel.related(key(a, b, order))
    ]
    for label, pairs in (("first vs last third of one clip", third_pairs), ("unrelated sources", src_pairs)):
        if not pairs:
            continue
        o_hits = [f"{a}~{b}" for a, b in pairs if any_kind.get((a, b), -1) >= ours_t]
        b_hits = [f"{a}~{b}" for a, b in pairs if shares.get((a, b), -1) >= base_t]
        print(f"hard negatives, {label}: ours {len(o_hits)} of {len(pairs)} matched, baseline {len(b_hits)} of {len(pairs)}"
              + (f"; ours: {', '.join(o_hits[:8])}" if o_hits else "")
              + (f"; baseline: {', '.join(b_hits[:8])}" if b_hits else ""))  # fmt: skip
        name = "hard_negatives_thirds" if pairs is third_pairs else "hard_negatives_sources"
        out[name] = dict(pairs=len(pairs), ours=len(o_hits), baseline=len(b_hits))
    # dubs: found with their soundtrack's source, as "same soundtrack" (or as a copy heard alike)
    dubs = [c for c in inside if c.sound_expected]
    if dubs:
        strict, loose, details = 0, 0, []
        for c in dubs:
            f = found.get(key(c.name, c.sound_expected[0].source, order), Found())
            as_sound = f.sound >= ours_t
            as_copy = f.copy >= ours_t and "sound" in f.signals
            strict += as_sound
            loose += as_sound or as_copy
            how = "soundtrack" if as_sound else "copy+sound" if as_copy else "copy" if f.copy >= ours_t else "-"
            details.append(f"{c.name.split('__')[0]}+{c.sound_expected[0].source}:{how}")
        print(f"dubs found with their soundtrack's source: as \"same soundtrack\" {strict} of {len(dubs)} "
              f"({strict / len(dubs):.2f}); as that or a copy whose signals include sound {loose} of {len(dubs)} "
              f"({loose / len(dubs):.2f}); baseline: no sound ({' '.join(details)})")  # fmt: skip
        out["dubs"] = dict(n=len(dubs), same_soundtrack=strict / len(dubs), with_copy_sound=loose / len(dubs))
    # labels: a copy where only a soundtrack is shared, a soundtrack match where pictures are shared
    pairs = [(a.name, b.name) for i, a in enumerate(inside) for b in inside[i + 1 :]]
    pairs = [key(a, b, order) for a, b in pairs]
    copy_on_sound = [k for k in pairs if rel.sound[k] and not rel.pictures[k] and copy.get(k, -1) >= ours_t]
    sound_on_pics = [k for k in pairs if rel.pictures[k] and found.get(k, Found()).sound >= ours_t]
    if any(c.sounds for c in inside):
        print(f"labels: {len(copy_on_sound)} copy match(es) between clips sharing only a soundtrack, "
              f"{len(sound_on_pics)} \"same soundtrack\" match(es) between clips sharing pictures")  # fmt: skip
    if o_false:
        print("false pairs (ours): " + ", ".join(f"{a}~{b}" for a, b in o_false[:20]))
    if b_false:
        print("false pairs (baseline): " + ", ".join(f"{a}~{b}" for a, b in b_false[:12])
              + (f" (+{len(b_false) - 12})" if len(b_false) > 12 else ""))  # fmt: skip
    return out


def report(clips, found, shares, settings, args, summary, classes, looked, timing) -> None:
    rel = Relations.of(clips)
    copy = {k: f.copy for k, f in found.items()}
    any_kind = {k: f.score for k, f in found.items()}
    # Threshold sweeps over all clips: ours over the match score, the baseline over the share of matched frames.
    print(
        "\n== threshold sweep, all classes (pooled recall over required edits / precision over pairs of different contents)"
    )
    print(f"{'ours: min score':<22}{'recall':>8}{'precision':>11}{'false pairs':>13}")
    ours_pick = None
    for t in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
        _, pooled, precision, fp, diff, _ = evaluate(clips, rel, copy, any_kind, t)
        print(f"{t:<22.2f}{pooled:>8.3f}{precision:>11.3f}{fp:>8}/{diff}")
        if ours_pick is None and precision >= 0.99:
            ours_pick = t
    print(f"{'baseline: min share':<22}{'recall':>8}{'precision':>11}{'false pairs':>13}")
    base_pick = None
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        _, pooled, precision, fp, diff, _ = evaluate(clips, rel, shares, shares, t)
        print(f"{t:<22.2f}{pooled:>8.3f}{precision:>11.3f}{fp:>8}/{diff}")
        if base_pick is None and precision >= 0.99:
            base_pick = t
    ours_t = ours_pick if ours_pick is not None else 0.0
    base_t = base_pick if base_pick is not None else 0.8
    print(f"(ours: the lowest min score with precision >= 0.99 over all pairs: {ours_t:.2f}"
          f"{'' if ours_pick is not None else ' (none reached 0.99)'}; baseline: {base_t:.2f}"
          f"{'' if base_pick is not None else ' (none reached 0.99)'})")  # fmt: skip
    o_kind, o_pooled, o_prec, o_fp, diff, _ = evaluate(clips, rel, copy, any_kind, ours_t)
    b_kind, b_pooled, b_prec, b_fp, _, _ = evaluate(clips, rel, shares, shares, base_t)
    errors_by_kind = segment_errors(clips, found)
    # segment errors per (class, kind)
    errors: dict = {}
    for cls in CLASSES:
        sub = segment_errors(
            [c if c.cls == cls else Clip(c.name, c.kind, c.contents, [], c.path, c.cls) for c in clips], found
        )
        for kind, e in sub.items():
            errors[(cls, kind)] = e

    per_class = {}
    for cls in CLASSES:
        if cls in classes:
            figures = class_report(cls, clips, rel, found, shares, ours_t, base_t, errors, looked)
            if figures is not None:
                per_class[cls] = figures

    print("\n== per class (ours / baseline)")
    print(f"{'class':<11}{'clips':>6}{'pooled recall':>16}{'worst edit':>30}{'re-poster edits':>17}"
          f"{'precision (false pairs)':>34}{'dubs':>12}")  # fmt: skip
    for cls, f in per_class.items():
        o, b = f["ours"], f["baseline"]
        rp = (
            f"{o['reposter_recall']:.2f} / {b['reposter_recall']:.2f}"
            if o["reposter_recall"] == o["reposter_recall"]
            else "-"
        )
        dubs = f"{f['dubs']['same_soundtrack']:.2f}" if "dubs" in f else "-"
        print(f"{cls:<11}{f['clips']:>6}{o['pooled_recall']:>9.3f} / {b['pooled_recall']:.3f}"
              f"{o['worst_edit'] + ' ' + format(o['worst_recall'], '.2f'):>30}{rp:>17}"
              f"{o['precision']:>10.3f} ({o['false_pairs']}) / {b['precision']:.3f} ({b['false_pairs']}) of {o['different_pairs']}"
              f"{dubs:>12}")  # fmt: skip

    starts = [x for e in errors_by_kind.values() for x in e.get("start", [])]
    ends = [x for e in errors_by_kind.values() for x in e.get("end", [])]
    print("\n== summary, all classes")
    print(f"ours:     pooled recall {o_pooled:.3f} (required edits), "
          f"precision {o_prec:.3f} ({o_fp} of {diff} pairs of different contents matched)")  # fmt: skip
    print(f"baseline: pooled recall {b_pooled:.3f}, precision {b_prec:.3f} ({b_fp} of {diff} pairs matched)")
    print(f"segments: median start error {med(starts):.2f} s, median end error {med(ends):.2f} s "
          f"({len(starts) // 2} located segments)")  # fmt: skip
    sub = errors_by_kind.get("subclip_40", {}).get("offset_err", [])
    print(f"sub-clips: offset error median {med(sub):.2f} s, max {max(sub, default=float('nan')):.2f} s")
    offsets = sorted(x for e in errors_by_kind.values() for x in e.get("offset_err", []))
    if offsets:
        print(f"offsets, every located copy: error median {med(offsets):.2f} s, 90th percentile "
              f"{offsets[int(0.9 * (len(offsets) - 1))]:.2f} s, max {offsets[-1]:.2f} s; "
              f"{sum(x > 0.5 for x in offsets)} of {len(offsets)} off by more than 0.5 s")  # fmt: skip
    labels = [(kind, x) for kind, e in errors_by_kind.items() for x in e.get("false_speed", [])]
    wrong = sorted({kind for kind, x in labels if x})
    print(f"speed labels: {sum(x for _, x in labels):.0f} of {len(labels)} located copies played at their source's "
          f"speed reported sped up or slowed down ({', '.join(wrong) or 'none'})")  # fmt: skip
    bad, located, misplaced = misplaced_segments(clips, found)
    print(f"segments between clips of one source: {bad} of {located} show moments of it more than {MISPLACED_S:g} s "
          f"apart{': ' + '; '.join(misplaced) if misplaced else ''}")  # fmt: skip
    comp = [c for c in clips if c.kind == "compilation"]
    order = {c.name: i for i, c in enumerate(clips)}
    both = sum(all(copy.get(key(c.name, e.source, order), -1) >= ours_t for e in c.expected) for c in comp)
    print(f"compilations: {both} of {len(comp)} with both sources found")
    for kind in ("speed_0.9x", "speed_1.1x"):
        sp = errors_by_kind.get(kind, {}).get("speed_err", [])
        print(f"{kind}: speed error median {med(sp) * 100:.1f} %, max {max(sp, default=float('nan')) * 100:.1f} %")
    print(f"fingerprint cost: {timing['cpu_per_s'] * 1000:.1f} ms CPU and {timing['wall_per_s'] * 1000:.1f} ms wall "
          f"per video-second ({timing['cost_video_s']:.0f} video-seconds, one process, ffmpeg included)")  # fmt: skip
    if timing.get("other_cpu_per_s"):
        other = timing["other_cpu_per_s"]
        print(f"fingerprint cost of {args.cost_against}: {other * 1000:.1f} ms CPU per video-second on the same clips; "
              f"this version costs {timing['cpu_per_s'] / other:.2f}x that")  # fmt: skip
    print(f"settings: sample_fps {settings.sample_fps:g}, max_distance_bits {settings.max_distance_bits}, "
          f"hash {defaults.HASH_ALGORITHM} v{defaults.HASH_VERSION}")  # fmt: skip
    print(f"vidtrace: {code_version()}")
    print(f"time: ingest {timing['ingest_s']:.0f} s ({len(clips)} clips, {timing['video_s']:.0f} video-seconds), "
          f"each copy looked up {timing['lookup_s']:.0f} s, baseline {timing['baseline_s']:.0f} s")  # fmt: skip
    if summary.failures:
        print("failed clips: " + ", ".join(f"{f.path}: {f.reason}" for f in summary.failures[:10]))
    print(f"wall time: {timing['total_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "ours": {"threshold": ours_t, "pooled_recall": o_pooled, "precision": o_prec,
                     "per_edit": {k: rate(v) for k, v in o_kind.items()}},
            "baseline": {"threshold": base_t, "pooled_recall": b_pooled, "precision": b_prec,
                         "per_edit": {k: rate(v) for k, v in b_kind.items()}},
            "classes": per_class,
            "segments": {"median_start_err_s": med(starts), "median_end_err_s": med(ends),
                         "misplaced": bad, "located_between_copies": located},
            "timing": timing,
        }, indent=1, default=str))  # fmt: skip


FFMPEG = "ffmpeg"

if __name__ == "__main__":
    sys.exit(main())
