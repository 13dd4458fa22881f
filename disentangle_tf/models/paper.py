"""The reference every model docstring cites."""

PAPER_REFERENCE = (
    "Q. Meng, N. Pawlowski, D. Rueckert, B. Kainz. Representation Disentanglement for "
    "Multi-task Learning with application to Fetal Ultrasound. PIPPI workshop, MICCAI "
    "2019. arXiv:1908.07885."
)
