"""ciw: commitments-indicators warehouse."""
