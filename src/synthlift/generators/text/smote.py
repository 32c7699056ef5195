"""`gan=text/smote`: SMOTE (Chawla et al., JAIR 2002) within each class.

Each sample lies at a uniform random point on the segment from a random training example to one of its
`k_neighbors` nearest neighbours of the same class: new points stay inside the class's local geometry instead
of on the straight line to any far-away member. A class with at most `k_neighbors` examples uses all of the
others as neighbours; a class with a single example can only return that example.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from synthlift.core.checks import positive_int
from synthlift.generators.text.base import TextTrainData
from synthlift.generators.text.numeric import ClassResampler


class SMOTE(ClassResampler):
    divergence_advice = "SMOTE only interpolates between real examples: check the training embeddings."

    def __init__(self, k_neighbors: int = 5):
        self.k_neighbors = positive_int("k_neighbors", k_neighbors)

    def _prepare(self, train: TextTrainData) -> None:
        """Each class's (n_c, k) table of neighbour row numbers, excluding the row itself."""
        self.neighbours = [_same_class_neighbours(rows, self.k_neighbors) for rows in self.rows]

    def _draw(self, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
        rows, neighbours = self.rows[label], self.neighbours[label]
        base = rng.integers(len(rows), size=count)
        partner = neighbours[base, rng.integers(neighbours.shape[1], size=count)]
        gap = rng.random((count, 1))
        return rows[base] + gap * (rows[partner] - rows[base])


def _same_class_neighbours(rows: np.ndarray, k: int) -> np.ndarray:
    """Without a query, `kneighbors` leaves each point out of its own list (even among exact duplicates); a lone
    example is its own only "neighbour", so SMOTE returns it unchanged."""
    if len(rows) <= 1:
        return np.zeros((len(rows), 1), dtype=np.int64)
    return NearestNeighbors(n_neighbors=min(k, len(rows) - 1)).fit(rows).kneighbors(return_distance=False)
