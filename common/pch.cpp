// Anchors the shared precompiled header (common/pch.hpp) in a target of its own.
