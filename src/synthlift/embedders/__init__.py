"""Text -> fixed-size vector embedders (`conf/embedder/*.yaml`), and the shared on-disk cache of their
outputs. Heavy libraries (torch, transformers, sklearn) are imported lazily, so a warm cache never pays
for them."""
