"""Plant model of a Gridpod module (coolant loop, battery/contactors/PCS, AI load, sensors,
fault injection), stepped by the virtual board's simulated clock. See docs/plant-model.md.

    from gridpod.plant import Plant
    plant = Plant(seed=1, profile="training")
    VirtualBoard(plant=plant, speed="max")
"""

from .errors import PlantError
from .model import Plant

PLANT_MODEL_VERSION = "1.0.0"

__all__ = ["PLANT_MODEL_VERSION", "Plant", "PlantError"]
