"""Loading a trained Keras model safely: the one place edgecls opens a `.keras` file."""

from __future__ import annotations

from pathlib import Path

from edgecls.core.errors import EdgeclsError


def load_keras_model(path: Path):
    """`keras.saving.load_model` in safe mode, for `.keras` files only.

    Legacy HDF5 files (`.h5`, `.hdf5`) are refused: Keras does not enforce safe mode on them
    (CVE-2025-9905), so loading one can run code it carries.

    Raises:
        EdgeclsError: one line naming the file and why it cannot be loaded (not found, not a .keras
            file, truncated, or holding code such as a Lambda layer that safe mode refuses).
    """
    import keras

    path = Path(path)
    if path.suffix.lower() != ".keras":
        raise EdgeclsError(
            f"{path}: only .keras model files are loaded (legacy .h5 files can carry code Keras does not "
            "check). Re-save the model with model.save('model.keras') where it was trained."
        )
    if not path.is_file():
        raise EdgeclsError(f"{path}: model file not found.")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises ValueError, OSError, zipfile errors and more
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise EdgeclsError(
                f"{path}: refused: the model holds code (a Lambda layer or similar) that is not loaded in safe "
                f"mode. Rebuild it without Lambda layers ({first_line})"
            ) from None
        raise EdgeclsError(f"{path}: Keras cannot load this model file ({first_line})") from None
