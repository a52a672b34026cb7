"""A traffic-light renderer built around how a camera sees a lamp (numpy and OpenCV only): the
built-in data for the demo and the tests.

Each image shows one traffic light in a state: `red`, `yellow` or `green` (that lamp lit) or `off`
(every lamp dark: between the flashes of a flashing light, or an outage). What defines the class is
never varied: which lamp is lit, its colour family, and the lamp order (red on top, or at the left of
a horizontal light). Everything else is:

- The lamp as light, not paint. A lit lamp is an emitter from 1.5 times the scene's white (a dim LED
  on a bright day) to 100 times brighter, in the hue ranges real LEDs and bulbs have (red: deep red to
  orange-red or pinkish; yellow: amber to orange; green: blue-green to cyan), spread by the optics
  into a halo and bloom; many lamps fall off from a hot centre. The scene is rendered in linear light
  and the sensor clips each channel, so a bright lamp's core comes out white or nearly white and its
  colour lives in the halo and in a ring towards the rim, as in photographs. Visors hide up to half
  of a lens.
- Unlit lamps: dark grey to black lenses, a tint of their glass, sky reflected in their upper part.
- Housings: black, grey, yellow, dark green or painted another colour, rounded or square, with or
  without visors over the lamps and back plates (some with a white or yellow border); lamps as plain
  lenses, LED-dot arrays or arrows; vertical or horizontal.
- The scene: sky, foliage, buildings, poles, signs, strongly coloured surfaces and bright coloured
  lights of any hue (tail lights, neon, far signals), so the scene's colour never tells the state.
- Framing: a tight crop around the housing (as from a detector or an `--roi`), a looser crop, or a
  small light in a busy street scene (a fixed camera without `--roi`). Crops come at the size a
  camera gives them, often 15-100 pixels wide, so the model meets them upscaled and soft.
- The camera: exposure, white balance, haze, defocus and motion blur, sensor noise, saturation, a
  tone curve and JPEG compression, all at the crop's own resolution.
"""

from .clip import cycle_signal, cycle_states, write_clip
from .common import FRAMING_WEIGHTS, FRAMINGS, LAMPS, MAX_NATIVE, NIGHT, STATES
from .images import render_traffic_light, write_dataset
from .light import LightLayers, render_light

__all__ = [
    "FRAMINGS",
    "FRAMING_WEIGHTS",
    "LAMPS",
    "MAX_NATIVE",
    "NIGHT",
    "STATES",
    "LightLayers",
    "cycle_signal",
    "cycle_states",
    "render_light",
    "render_traffic_light",
    "write_clip",
    "write_dataset",
]
