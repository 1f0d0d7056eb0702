"""Errors and warnings raised by fusion.

Every error message names the object at fault, the cause, and the fix, so the CLI can print
it as one line. Warnings are named classes so users can silence or escalate them with the
standard :mod:`warnings` filters.
"""

from __future__ import annotations


class FusionError(Exception):
    """Base class of every error fusion raises on purpose."""


class ConfigError(FusionError):
    """A configuration file (data_catalog.yaml, a pipeline YAML) is invalid."""


class AOIError(FusionError):
    """The area of interest cannot be read or is not a usable polygon."""


class SourceError(FusionError):
    """A data source is unknown or misconfigured (credentials, URL, collections)."""


class SearchError(FusionError):
    """A catalogue search failed (API errors after retries, unreadable catalogue)."""


class NoScenesError(SearchError):
    """A search returned no usable scene for the AOI and date range."""


class IngestError(FusionError):
    """Loading or harmonising imagery failed."""


class ItemMetadataError(IngestError):
    """A STAC item lacks what is needed to read it (asset, band, processing baseline)."""


class PhysicalRangeError(IngestError):
    """Loaded reflectance lies outside the physical range: wrong scale/offset or corrupt data."""


class AssetReadError(IngestError):
    """An asset could not be read after retries."""


class OutputError(FusionError):
    """Outputs cannot be written (unwritable folder, disk full, output locked)."""


class FusionWarning(UserWarning):
    """Base class of fusion's warnings."""


class TruncatedSearchWarning(FusionWarning):
    """A search hit a result cap; some matching items were not returned."""


class DuplicateItemWarning(FusionWarning):
    """Duplicate items (reprocessed scenes) were found and all but one dropped."""


class SkippedAssetWarning(FusionWarning):
    """An asset was skipped; the run is partial and its manifest says so."""


class MisregistrationWarning(FusionWarning):
    """A Landsat/Sentinel-2 pair is shifted by more than the configured threshold."""


class ScaleOffsetMismatchWarning(FusionWarning):
    """A catalogue's scale/offset metadata disagrees with the processing-baseline rule; the rule wins."""


class ModelError(FusionError):
    """The fusion network cannot run: bad inputs or unusable weights."""


class ModelInputError(ModelError):
    """Inputs to :func:`fusion.fuse` are unusable: wrong dims or bands, no CRS, a misaligned or wrongly sized guide."""


class WeightsError(ModelError):
    """Fusion-network weights are missing, unreadable, or their metadata does not match the inputs or the code."""


class MonitorError(FusionError):
    """The forest-disturbance monitor (:func:`fusion.detect`) cannot run."""


class MonitorInputError(MonitorError):
    """Inputs to :func:`fusion.detect` are unusable: wrong dims, unsorted time, no history, monitor_start outside the series."""


class MonitorParamsError(MonitorError):
    """Monitor parameters are unknown or out of range (threshold, confirmation window, reference window)."""


class MonitorStateError(MonitorError):
    """A persisted monitor state is unreadable, from another format version, or does not match the new observations."""


class OutputLockedError(OutputError):
    """Another run holds the output folder; a second run into it refuses to start."""
