"""One pipeline per track: the whole data path of one run, stage by stage."""
