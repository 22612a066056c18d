"""Image preprocessing and augmentation (Keras's legacy ``keras.preprocessing.image``)."""
