"""DVC stage `tsne`: t-SNE maps of raw input vs the final network's embedding, with a perplexity sweep, and
of the sumnet's digit embedding."""

from mnistsum.stages import command, tsne

if __name__ == "__main__":
    command.main(tsne)
