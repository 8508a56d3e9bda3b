"""A toy damped wave: reads model.ini, logs its energy into the ferrotrack run that launched
it (FERROTRACK_RUN_DIR makes ferrotrack.core.log attach there), writes its output file."""

import configparser
import math

import ferrotrack.core as ft

settings = configparser.ConfigParser()
with open("model.ini") as source:
    settings.read_string("[model]\n" + source.read())
model = settings["model"]
steps, dt, damping = int(model["steps"]), float(model["dt"]), float(model["damping"])
height, speed = 1.0, 0.0
with open("heights.txt", "w") as out:
    for step in range(steps):
        speed += (-height - damping * speed) * dt
        height += speed * dt
        ft.log("wave/energy", 0.5 * (height * height + speed * speed), step)
        out.write(f"{step} {height:.6f}\n")
energy = 0.5 * (height**2 + speed**2)
print(f"simulated {steps} steps: final height {height:.4f}, energy {energy:.4f}")
print(f"(cos reference: {math.cos(steps * dt):.4f})")
