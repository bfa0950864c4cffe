"""Wire formats behind one interface (``base``): DashScope's own protocol and the gateways, chosen by ``registry``."""
