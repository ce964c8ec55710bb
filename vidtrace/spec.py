"""The fingerprint specification: every constant a stored fingerprint depends on, and the version
of the rules stored matches were found by.

A stored frame hash is only comparable with another computed the same way, so these values are
not settings: no flag, environment variable or case file changes them. Changing any of them
changes the hashes; bump `HASH_VERSION` with it, and a rescan re-fingerprints the videos hashed
with an older version. The sound print is versioned apart (`SOUND_VERSION`, at the end).

Run-time values (matching thresholds, limits, timeouts) are in `vidtrace.settings`.
"""

from __future__ import annotations

# --- the hash -------------------------------------------------------------------------------
#: Hash side: 8 gives 64-bit hashes (imagehash pHash: the 8x8 lowest DCT frequencies of a 32x32
#: image against their median).
HASH_SIZE = 8
HASH_ALGORITHM = "phash64"
#: Bumped whenever frame sampling, cropping or hashing changes; a rescan re-fingerprints
#: videos hashed with an older version. 2: blurred and coloured padding removed, centre region
#: hashed for re-framed copies. 3: imagehash pHash, mirrored content hashed and stored. 4: one
#: picture every 0.125 s, inset pictures (picture-in-picture) hashed. 5: insets also found by
#: their finer detail. 6: the change between pictures half a second apart hashed too (still
#: backdrops, talking heads). 7: insets found by their straight edges first, the change within
#: an inset hashed; the content without a fifth of each side hashed (pictures and changes).
#: 8: a plain backdrop (a wall, a green screen) kept as picture, not cut as padding; insets found
#: by their shape and their sides' ends too, and hashed without their own padding as well.
#: 9: an inset's sides settled to the pixel; one with a faint side hashed in its common shape too;
#: the centre square of vertical content hashed as a centre region. 10: an even wall cut by a crop
#: kept as picture (exact-colour padding comes in pairs; a flat border is a backdrop when the
#: line past it keeps its colour over half its length); an inset's box of none of the common
#: shapes, in a corner of the frame, also hashed with either side across the nearest one moved
#: outwards when no side is faint. 11: an inset's side counts less by what its line shows past
#: each of its ends, not only the stronger one (a line across the host is no inset's side).
#: 12: two straight edges a few lines apart are both an inset's candidate sides when they run
#: along different stretches (an inset's bottom side just below a bar's edge). 13: an inset's
#: candidate sides as close as 2 lines to a stronger one; the change of an inset's content
#: within its own padding hashed too. 14: the change within the box where the pictures of each
#: stretch moved (`REGION_MOTION_FOCUS`). 15: the best rectangle of straight sides in a corner
#: of the frame is an inset too when the best of all lies elsewhere (`INSET_MIN_CORNER_EDGE`).
HASH_VERSION = 15
#: Instants are stored to the millisecond (decimal places of seconds)...
TS_DIGITS = 3
#: ...and qualities (grey-level standard deviations) to two decimal places.
QUALITY_DIGITS = 2

# --- the matching rules ---------------------------------------------------------------------
#: Bumped whenever the rules that turn hits into matches change what a stored match says (which
#: pairs match, their segments, speeds and labels); each video records the version it was matched
#: by, and a rescan matches the videos matched by an older one again, keeping the matches it
#: finds again (their ids too) and dropping those it no longer finds. 2: a segment's evidence
#: (its pictures that are not held) spans 1.5 s, its speed and offset fitted on that evidence
#: alone; of two overlapping segments the one with more evidence wins. 3: that speed is the
#: median slope between evidence pictures (Theil-Sen), and evidence sloping beyond the speeds
#: aligned is no copy; of two overlapping segments the one with more close evidence wins.
MATCH_VERSION = 3

# --- frame sampling -------------------------------------------------------------------------
#: Frames decoded per second of video (at most; fewer when the video has fewer). Dense, because
#: the pictures hashed are averages over short windows of frames (see HASH_WINDOW_S); 15 keeps
#: the fingerprinting cost within 1.3x of sampling 2 per second (25: 1.5x, for no measured gain).
SAMPLE_FPS = 15.0
#: Side of the small grey frame ffmpeg hands to Python (pixels; area-scaled, squashed to a square).
#: Large enough to find borders and to crop them while keeping more than the 32x32 pixels pHash reads.
FRAME_SIDE_PX = 128
#: Each hashed picture is the mean of the frames within half of this of its instant (s). Single
#: frames 0.1 s apart can differ by a third of their bits; 0.5 s means shifted by a quarter of
#: their window stay within a few bits, so a copy sampled at another phase still matches.
HASH_WINDOW_S = 0.5
#: One hashed picture every this many seconds (windows overlap by three quarters). A copy is at
#: most half a step out of phase; content that changes completely from frame to frame (a
#: scrolling texture) needs that within 0.06 s: at 0.25 s steps, compilations cut at arbitrary
#: instants lost half their excerpts in the robustness benchmark, at 0.125 s none.
HASH_STEP_S = 0.125
#: Pictures whose grey-level standard deviation is below this carry no information (black,
#: flat colour, the middle of a fade) and are not hashed (grey levels, 0-255).
MIN_FRAME_STD = 8.0

# --- padding (bars, coloured and blurred backgrounds) ----------------------------------------
#: A border row or column is one whose standard deviation is below this (grey levels).
BORDER_STD = 6.0
#: ...and whose mean differs from the outermost line's mean by less than this (grey levels).
BORDER_MEAN_DELTA = 12.0
#: A flat or soft border is padding when it and the border opposite are each one exact colour:
#: their first `FILL_LINES` lines spread less than `BACKDROP_MIN_STD` grey levels along them
#: (median; added padding spreads 0.0 to 0.5 over the benchmark's padded copies, the flattest side
#: of its real talking heads' walls 0.9 to 1.8, but 0.3 to 0.8 where a crop cut a green screen:
#: editors pad both sides at once, a crop through a plain wall leaves it on one side)...
FILL_LINES = 3
BACKDROP_MIN_STD = 0.7
#: ...else it is the picture's backdrop (a wall, a green screen), kept, when the line past it keeps
#: the colour of its last line over more than this share of its length: a subject's outline
#: interrupts it, where content would end at a straight edge. For a flat border this share: a
#: head cropped close to the frame's top takes a third of the line past it...
FLAT_BACKDROP_SHARE = 0.5
#: ...and for a soft one (a blurred background; a clip over a blurred copy of itself keeps half
#: to three quarters of its edge's colours past the blur).
BACKDROP_SHARE = 0.75
#: Never crop more than this share of a side away as border.
MAX_BORDER_SHARE = 0.4
#: A line is blurred padding when its detail (mean absolute difference between neighbouring
#: pixels) is below this share of the detail of the frame's sharp lines...
BLUR_SHARPNESS_RATIO = 0.35
#: ...those at this percentile of the lines' detail.
SHARP_LINES_PERCENTILE = 90
#: Blurred padding must cover at least this share of the side at each end...
MIN_BLUR_SHARE = 0.05
#: ...and both ends must agree within this share of the side (a blurred background is centred).
BLUR_ASYMMETRY = 0.08
#: Shapes (width / height) of the clips re-posters lay over a blurred copy of themselves...
COMMON_SHAPES = (1.0, 4 / 3, 3 / 4, 5 / 4, 4 / 5, 16 / 9, 9 / 16)
#: ...within this share.
SHAPE_TOLERANCE = 0.05
#: A seam is a line across which the picture steps by at least this many times the frame's
#: typical step between neighbouring lines...
SEAM_RATIO = 4.0
#: ...with a step of at least `SEAM_STEP` grey levels at this share of its pixels or more.
SEAM_SHARE = 0.3
SEAM_STEP = 6
#: ...and the padding outside the seams has at most this share of the clip's detail (blurred).
SEAM_SOFTNESS = 0.75
#: The padding is found again at most this often (s): finding it costs more than a hash.
CONTENT_BOX_EVERY_S = 0.25

# --- regions --------------------------------------------------------------------------------
#: What part of the frame a hash covers (stored with each frame hash).
REGION_FRAME = 0  # the whole frame: nothing was cropped
REGION_CONTENT = 1  # the frame with its padding (bars, coloured or blurred background) removed
REGION_CENTRE = 2  # the centre of the content cut to 9:16 (landscape), or to 16:9 and 1:1 (portrait)
REGION_ZOOM = 3  # the centre of the content without a border (what a zoomed-in copy keeps)
REGION_MIRROR = 4  # the content region mirrored left to right (as a query: against crops only)
REGION_INSET = 5  # a smaller video shown over a host (picture-in-picture)
#: How the content changed over the last `MOTION_LAG_S` (the mean picture at an instant minus
#: the one before it): a still backdrop, a static logo or caption cancel out, and what moves (a
#: face, a mouth, a hand, a slide change) is all that is left.
REGION_MOTION = 6
REGION_MOTION_MIRROR = 7  # the same, mirrored left to right (as a query: against crops only)
REGION_MOTION_ZOOM = 8  # the change without a border of `MOTION_ZOOM_SHARE` of each side
REGION_MOTION_CENTRE = 9  # the change in the centre region (see REGION_CENTRE)
REGION_MOTION_INSET = 10  # the change in an inset (see REGION_INSET)
#: The centre of the content without `DEEP_ZOOM_SHARE` of each side (what a copy cropped by a fifth
#: on every side keeps), and its change.
REGION_DEEP_ZOOM = 11
REGION_MOTION_DEEP_ZOOM = 12
#: The change within the box where the pictures of a stretch moved (a face, a speaker's hands):
#: the box is found from the change itself, so a copy cropped or reframed around it finds the same
#: box, and the same change in it, at any crop size (see `FOCUS_*`).
REGION_MOTION_FOCUS = 13
#: The largest region number (imported fingerprints are checked against it).
REGION_LAST = REGION_MOTION_FOCUS
#: The change regions, and the picture regions each one stands for.
MOTION_REGIONS = {
    REGION_MOTION: REGION_CONTENT,
    REGION_MOTION_MIRROR: REGION_MIRROR,
    REGION_MOTION_ZOOM: REGION_ZOOM,
    REGION_MOTION_CENTRE: REGION_CENTRE,
    REGION_MOTION_INSET: REGION_INSET,
    REGION_MOTION_DEEP_ZOOM: REGION_DEEP_ZOOM,
    REGION_MOTION_FOCUS: REGION_MOTION_FOCUS,  # a change only: its held picture is no evidence
}
#: The zoom region leaves out this share of each side of the content: copies cropped by up to
#: about twice this much (and scaled back up) match it within the distance threshold.
ZOOM_BORDER_SHARE = 0.075
#: The deep zoom regions leave out this share of each side: a copy cropped by a fifth on every
#: side (36% of the picture kept) is too far in for the zoom regions.
DEEP_ZOOM_SHARE = 0.2
#: Aspect ratio (width / height) of the centre region of a landscape frame; its inverse for portrait.
CENTRE_ASPECT = 9 / 16
#: Portrait content also has its centre square hashed as a centre region: a square copy of a
#: vertical video (a feed's 1:1 crop) keeps it. A square copy of landscape content matches by the
#: 9:16 centres both have.
SQUARE_ASPECT = 1.0
#: The centre region is hashed when it keeps at most this share of the content's width (height);
#: closer to 9:16 the whole frame is enough.
MAX_CENTRE_SHARE = 0.8
#: The mirrored, zoomed and centre regions are hashed at most this often (s). The whole picture
#: is hashed every `HASH_STEP_S`: excerpts cut off the grid need it; the extra regions matched
#: their edits (mirror, border crop, vertical re-frame: recall 1.00 each) at 0.25 s steps, and
#: hashing them half as often saves a third of the hashes and of the index.
EXTRA_REGIONS_EVERY_S = 0.25

# --- change between pictures ----------------------------------------------------------------
#: The change is read between pictures this far apart (s): they share no frame (each is the
#: mean of `HASH_WINDOW_S`), and half a second of talking moves a face, a mouth or a hand.
MOTION_LAG_S = 0.5
#: The change is hashed this often (s): as often as the whole picture, so that a short excerpt
#: (a 3 s head or tail of a talk) still has enough changes to align.
MOTION_EVERY_S = 0.125
#: A change whose grey-level standard deviation is below this is encoding noise, not motion.
MIN_MOTION_STD = 2.0
#: The change picture is scaled to this standard deviation before hashing...
MOTION_CONTRAST = 40.0
#: ...around this grey level (no change).
MOTION_MID_GREY = 128.0
#: The zoomed change region leaves out this share of each side: copies cropped by 10 to 20% on
#: every side (a re-poster's crop, kept at its smaller size) keep it.
MOTION_ZOOM_SHARE = 0.15

# --- where the pictures move ----------------------------------------------------------------
#: The change of each stretch of `INSET_CHUNK_S` (a shorter last one with the stretch before it) is
#: summed, as magnitudes, over a grid of this many cells a side of the content...
FOCUS_GRID = 64
#: ...blurred by this many cells (a face moves as one)...
FOCUS_BLUR_CELLS = 1.5
#: ...less its value at this percentile (the encoding noise and the flicker spread everywhere), and
#: squared, so that the strongest motion decides.
FOCUS_FLOOR_PERCENTILE = 75
#: The focus box is a square (in display proportions) centred on the median of that motion, each
#: side `FOCUS_SPAN` times the larger of its middle halves across and down (`FOCUS_MIDDLE` of it
#: each side of the median): a real talking head's copies cropped by 10 and 15% a side find boxes
#: over the same face, whose changes lie 4 bits (median) from the source's at the same instants and
#: 27 to 28 bits from its other moments.
FOCUS_MIDDLE = 0.25
FOCUS_SPAN = 2.5
#: A box this wide and this tall a share of the content (motion all over: moving content) is the
#: whole change, hashed already.
FOCUS_MAX_SHARE = 0.9
#: A box smaller than this many pixels a side (of the pictures hashed) is not hashed.
FOCUS_MIN_PX = 16

# --- how many hashes a second of video can carry --------------------------------------------
#: Most hashes at one instant (every `HASH_STEP_S`): the picture; its change whole, mirrored,
#: without two sizes of border, in up to two centre regions (vertical content) and in the focus
#: box; and up to three boxes of an inset (`insets.settled_boxes`), each its picture and its
#: change, with and without the inset's own padding.
MAX_HASHES_PER_INSTANT = 1 + 6 + 1 + 3 * 4
#: Most hashes every `EXTRA_REGIONS_EVERY_S`: the picture mirrored, without two sizes of border,
#: and in up to two centre regions.
MAX_EXTRA_HASHES = 5
#: Most frame hashes a second of video can carry: an imported record with more is broken or forged.
MAX_HASHES_PER_S = MAX_HASHES_PER_INSTANT / HASH_STEP_S + MAX_EXTRA_HASHES / EXTRA_REGIONS_EVERY_S

# --- picture-in-picture ---------------------------------------------------------------------
#: The frames of each stretch of this many seconds are searched together for an inset (a smaller
#: video over a host); the inset, when found, is hashed in each of them. A shorter last stretch
#: (under half of this) is searched with the one before it.
INSET_CHUNK_S = 8.0
#: A stretch is searched on this many of its pictures, spread over it: texture, motion, brightness
#: and detail are as clear from them (each the mean of its 0.5 s window: every fourth of a whole
#: stretch still covers it).
INSET_SEARCH_PICTURES = 16
#: An inset's content, once its own padding is cut away, is hashed when both its sides have at
#: least this many pixels.
INSET_MIN_CONTENT_PX = 12
#: An inset's width and height lie between these shares of the frame's.
INSET_MIN_SHARE = 0.2
INSET_MAX_SHARE = 0.7
#: An inset differs from its surroundings along all four sides by at least this many times the
#: typical difference between cells two apart, in texture, motion, brightness or detail scale.
#: The best stretch of each of the four PiP copies of the robustness benchmark scores 3.3 to 9.4
#: at its inset. Over the 232 stretches of the benchmark's other 132 clips, the best rectangle
#: scores a median of 1.1 (90th percentile 3.7); the 24 that also pass the motion test cost
#: hashes, not false matches (an inset must still match a whole frame of another video, in time).
INSET_MIN_CONTRAST = 2.0
#: ...or its four sides are straight lines this many times sharper (on average along each side)
#: than the picture's typical step, less the steps a few pixels beside them (see `insets`).
#: Over the benchmark's real clips, the talking heads shown small over other talking heads score
#: 1.7 to 11.6 (one stretch of 15: 0.5); the sources themselves 0.0 to 2.1 (slideshows of moving
#: clips the highest), but for one (5.9: a black strip under a shirt); measured with the v7
#: scoring, before the overrun and shape rules below. A false inset costs hashes, not matches:
#: its pictures must still match another video in time. With v8's rules, 56 of 166 stretches of
#: the benchmark's sources, captioned copies and negatives show an inset (66 with v7's).
INSET_MIN_EDGE = 1.5
#: ...or, for the best rectangle in a corner of the frame (see `INSET_CORNER_SHARE`) when the best
#: of all is elsewhere, this many times. `d19` shown small in the top left corner over `d0`
#: scores 1.03 there, under the 2.2 of `d0`'s face over its black bar; the best corner rectangle of
#: each of the real sources (talking heads and pattern clips, one per stretch) scores 0.22 at most.
INSET_MIN_CORNER_EDGE = 0.75
#: An inset found by its edges moves at least this much (grey levels of temporal spread, mean over
#: the inset): a talking head shown small moves little (1.0 to 16), a pasted logo not at all.
INSET_MIN_EDGE_MOTION = 0.8
#: An inset found by what it differs in moves at least this much: a static logo or a held card is
#: not an inset (grey levels of temporal spread).
INSET_MIN_MOTION = 6.0
#: A side's line is compared with the lines this many pixels away on either side.
INSET_EDGE_REACH_PX = 3
#: Candidate lines kept per direction (the strongest, see `INSET_EDGE_GAP_PX`).
INSET_EDGE_CANDIDATES = 16
#: Of two candidate lines this near along one stretch, only the stronger is kept: an edge between
#: two pixels blends into both lines. A gap of 3 hid true sides 2 lines from a stronger line (a
#: host's shirt beside a third-wide inset's top side; an inset's own black bar beside its side).
INSET_EDGE_GAP_PX = 1
#: A side's prominence along its line this many pixels past each end counts against it, weighted
#: by `INSET_OVERRUN_WEIGHT`: a pasted side ends at its corners. A host's line running on past one
#: end (a bar, a shelf meeting the inset) takes half of the side's score; one running on past both
#: ends (a line across the host) takes all of it.
INSET_EDGE_OVERRUN_PX = 6
INSET_OVERRUN_WEIGHT = 0.5
#: A rectangle whose display shape is none of `COMMON_SHAPES` (within this share: one pixel on
#: each side of a quarter-width inset) scores this share of its weakest side...
INSET_SHAPE_TOLERANCE = 0.08
INSET_ODD_SHAPE_FACTOR = 0.7
#: ...and of the rectangles scoring at least this share of the best, the largest is taken.
INSET_NEAR_BEST = 0.85
#: Each side of the box found is then moved, by up to this many pixels, to the line between two
#: pixels across which the pictures step the most: a side found from steps two pixels wide is off
#: by one as often as not, and a quarter-wide inset (32 pixels of 128) hashes differently then.
INSET_SETTLE_PX = 2
#: A side whose step is under this share of the second weakest other side's barely shows (a pale
#: wall shown over a pale wall). When the box then has none of the common shapes, it is also
#: hashed with that side moved outwards to where the nearest common shape puts it. When every
#: side shows, one of them may still lie inside the inset (on a line of its own: hair, a door's
#: edge, where a pale wall meets a pale wall beyond it): the box is also hashed with each of the
#: two sides across the nearest common shape moved outwards, each in a box of its own, when it
#: lies within `INSET_CORNER_SHARE` of two adjacent edges of the frame (editors put insets in a
#: corner; the faces and bodies taken for insets lie in the middle: with three boxes for each of
#: them, importing 32 copies of a talking head took 45% more memory)...
INSET_FAINT_SIDE = 0.5
INSET_CORNER_SHARE = 0.1
#: ...when that shape is within this share of the box's (a quarter-wide inset found 5 pixels
#: short of 32 is 18% off)...
INSET_SNAP_TOLERANCE = 0.25
#: ...and the settled box is not within this share of a common shape already (a pixel of a
#: quarter-wide inset's 32): the shapes near square (1:1, 5:4, 4:3) lie 7% to 11% apart, and a
#: wider margin took a square inset found 5 pixels short for a 5:4 one.
INSET_SETTLED_SHAPE_TOLERANCE = 0.03
#: Cells per side of the grid insets are searched on by what they differ in (4 pixels of a
#: 128-pixel frame).
INSET_GRID_CELLS = 32
#: Detail scale compares steps to the next pixel with steps this many pixels away...
INSET_COARSE_STEP_PX = 3
#: ...read over this many pixels around each cell (a host's own pattern would otherwise show
#: through the grid).
INSET_DETAIL_BLUR_PX = 8
#: Brightness is compared in units of this many grey levels (beside the logarithms of texture,
#: motion and detail scale).
INSET_BRIGHTNESS_UNIT = 32.0

# --- the sound print ------------------------------------------------------------------------
#: Name and version of the sound print; a new version means a rescan computes prints again.
SOUND_ALGORITHM = "chromaprint1"
SOUND_VERSION = 1
#: Chromaprint's algorithm (1: its default "TEST2"), analysis rate (Hz) and frame length (samples).
SOUND_CHROMAPRINT_ALGORITHM = 1
SOUND_RATE_HZ = 11025
SOUND_FRAME_SAMPLES = 4096
#: Seconds between consecutive values (a third of a 4096-sample frame at 11025 Hz).
SOUND_STEP_S = SOUND_FRAME_SAMPLES / 3 / SOUND_RATE_HZ
#: Each value sums the chroma of this many consecutive frames (a third of a frame apart).
SOUND_FRAMES_PER_VALUE = 16
