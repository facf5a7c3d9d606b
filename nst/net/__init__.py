"""Loss networks and their weights: the VGG architectures and weight files (:mod:`.weights`,
the offline vgg16-hed among them) and the feature extractor the losses read (:mod:`.features`)."""
