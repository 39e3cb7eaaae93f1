//! REST client for ArcGIS portals.
