"""GAN inversion for the image track: real image -> latent w whose synthesis reproduces it, so the few
labeled real images can be placed in the generator's latent space (where the labeler reads its features).

HandsOff inverts its labeled images with a ReStyle encoder and then refines each latent by optimisation
(10 x LPIPS + MSE, capped steps, keeping the best). Here a small encoder is first trained on the
generator's own (image, w) pairs, which are free and unlimited, optionally fine-tuned on real images with
a perceptual loss (`encoder.py`), and `optimize.py` does the per-image refinement.
"""
