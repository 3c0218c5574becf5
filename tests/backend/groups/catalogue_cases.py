"""Group specs used across the group tests (every catalogue family up to order 200)."""

CATALOGUE_SPECS = [
    "C1", "C2", "C3", "C7", "C12", "C30", "C97",
    "D1", "D2", "D3", "D4", "D5", "D6", "D15", "D50",
    "Q8", "Dic2", "Dic3", "Dic5", "Dic12",
    "S1", "S2", "S3", "S4", "S5", "A3", "A4", "A5",
    "C7:C3", "C5:C4", "C11:C5", "C13:C4", "C13:C3",
    "SL(2,3)",
    "C3xC5", "S3xC4", "Q8xS3", "C2xC2xC2", "D4xC3", "A4xC2", "C4xC6", "SL(2,3)xC2",
    "perm:(1 2 3)(4 5),(1 2)", "perm:(1 2 3 4 5 6 7 8),(1 8)(2 7)(3 6)(4 5)",
]  # fmt: skip
