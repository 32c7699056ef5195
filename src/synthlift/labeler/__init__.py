"""The image track's per-pixel labeler (DatasetGAN; HandsOff, Xu et al. CVPR 2023): hypercolumns of the
generator's features (`hypercolumns.py`), an ensemble of per-pixel MLPs with its uncertainty filter
(`ensemble.py`), its cross-validated quality (`cross_validation.py`), and the stage configured by
`conf/labeler/*.yaml` (`handsoff.py`)."""
