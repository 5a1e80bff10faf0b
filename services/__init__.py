"""The three services of Sổ vàng: intake, council and book. None imports another."""
