"""esrgan: ESRGAN-family super-resolution for images and videos, and two-stage ESRGAN training."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
