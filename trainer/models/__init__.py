"""Networks: the recurrent decoder, the MFCC encoder and the assembled DDSP autoencoder."""
